if (args is ["quick", ..])
{
    Ingest.Benchmarks.QuickMeasure.Run(args.Length > 1 ? args[1] : null);
    return;
}
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
