using System.Diagnostics;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Live;

namespace Ingest.Benchmarks;

/// <summary>
/// A stopwatch loop over the live-state transform (<c>-- live-state [series]</c>): the load tool's <c>lg</c> shape
/// (three fields per point, 10 000 series by default, every timestamp distinct) parsed once into batches of 5 000
/// points, then processed again and again, as the pipeline's runner thread does. Reports time and bytes allocated
/// per point; a convenient target for <c>perf record</c> too.
/// </summary>
public static class LiveStateMeasure
{
    public static void Run(string[] args)
    {
        var series = args.Length > 1 ? int.Parse(args[1]) : 10_000;
        const int PerBatch = 5_000, Batches = 40;
        var parser = new LineProtocolParser();
        var batches = new List<PointBatch>();
        var t = 1_700_000_000_000_000_000L;
        var rng = new Random(7);
        for (var b = 0; b < Batches; b++)
        {
            var body = new StringBuilder();
            for (var i = 0; i < PerBatch; i++)
            {
                var s = rng.Next(series);
                body.Append("lg,host=h").Append(s).Append(",region=r").Append(s % 16)
                    .Append(" usage_idle=").Append((rng.NextDouble() * 100).ToString("F2"))
                    .Append(",usage_user=").Append((rng.NextDouble() * 100).ToString("F2"))
                    .Append(",load=").Append(rng.Next(64)).Append("i ").Append(t++).Append('\n');
            }
            var batch = new PointBatch();
            parser.Parse(Encoding.UTF8.GetBytes(body.ToString()), Precision.Nanoseconds, 0, batch);
            batches.Add(batch);
        }
        var live = new LiveStateTransform(new LiveOptions(), "metrics");
        var taken = new List<LiveWrite>();
        for (var r = 0; r < 5; r++)
            foreach (var b in batches) live.Process(b, null!);

        var points = 0L;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 3)
        {
            foreach (var b in batches)
            {
                live.Process(b, null!);
                points += b.Count;
            }
            taken.Clear();
            while (live.TakeDirty(taken, 2_000) == 2_000) { }
        }
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Console.WriteLine($"live state, {series} series: {clock.Elapsed.TotalNanoseconds / points:F1} ns/point " +
                          $"(taking the dirty series every {Batches * PerBatch} points included), {allocated / (double)points:F2} B/point");
    }
}
