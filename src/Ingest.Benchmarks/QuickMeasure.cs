using System.Diagnostics;
using Ingest.LineProtocol;

namespace Ingest.Benchmarks;

/// <summary>
/// A fast stopwatch loop (<c>-- quick [body]</c>) for iterating on the parser without a full BenchmarkDotNet
/// run; also a convenient target for <c>perf record</c>.
/// </summary>
public static class QuickMeasure
{
    /// <param name="only">telegraf-mix, typical-cpu or unsorted-tags; null runs all three.</param>
    public static void Run(string? only, double seconds = 2)
    {
        if (only is null or "telegraf-mix") Measure("telegraf-mix", ParserBenchmarks.TelegrafMix, seconds);
        if (only is null or "typical-cpu") Measure("typical-cpu", ParserBenchmarks.TypicalCpu, seconds);
        if (only is null or "unsorted-tags") Measure("unsorted-tags", ParserBenchmarks.UnsortedTags, seconds);
    }

    private static void Measure(string name, byte[] body, double seconds)
    {
        var parser = new LineProtocolParser();
        var batch = new PointBatch();
        for (int i = 0; i < 300; i++) { batch.Clear(); parser.Parse(body, Precision.Nanoseconds, 0, batch); }

        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        int iterations = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            batch.Clear();
            parser.Parse(body, Precision.Nanoseconds, 0, batch);
            iterations++;
        }
        clock.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        double perOp = clock.Elapsed.TotalSeconds / iterations;
        Console.WriteLine($"{name}: {body.Length} bytes, {ParserBenchmarks.Lines} lines: {perOp * 1e6:F1} us/op, " +
            $"{body.Length / perOp / 1e6:F1} MB/s, {ParserBenchmarks.Lines / perOp / 1e6:F2} M lines/s, {allocated / (double)iterations:F1} B/op");
    }
}
