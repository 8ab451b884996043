if (args is ["quick", ..])
{
    Ingest.Benchmarks.QuickMeasure.Run(args.Length > 1 ? args[1] : null);
    return;
}
if (args is ["live-state", ..])
{
    Ingest.Benchmarks.LiveStateMeasure.Run(args);
    return;
}
if (args is ["live-redis", ..])
{
    await Ingest.Benchmarks.LiveRedisMeasure.RunAsync(args);
    return;
}
if (args is ["source-nats", ..])
{
    await Ingest.Benchmarks.SourceMeasure.RunAsync(args);
    return;
}
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
