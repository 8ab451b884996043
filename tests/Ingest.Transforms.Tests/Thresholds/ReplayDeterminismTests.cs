using Ingest.LineProtocol;
using FsCheck;
using FsCheck.Fluent;
using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class ReplayDeterminismTests
{
    private static readonly ThresholdRule[] RuleSet =
    [
        Rules.Above(warn: 70, crit: 90) with
        {
            WarnReset = 65, CritReset = 85, For = TimeSpan.FromSeconds(20),
            KeepFiringFor = TimeSpan.FromSeconds(15), NoDataTimeout = TimeSpan.FromSeconds(45),
        },
        Rules.Below(warn: 30, crit: 10) with { NoDataTimeout = TimeSpan.FromSeconds(30) },
    ];

    /// <summary>A stream of points over three series, mostly in order, with gaps long enough for no-data.</summary>
    private static List<string> Stream(int seed, int count)
    {
        var random = new Random(seed);
        var lines = new List<string>();
        double t = 0;
        for (int i = 0; i < count; i++)
        {
            t += random.Next(10) == 0 ? random.Next(40, 80) : random.Next(1, 8);
            double jitter = random.Next(8) == 0 ? -random.Next(1, 20) : 0;
            string host = "h" + random.Next(3);
            lines.Add($"cpu,host={host} usage={random.Next(0, 101)} {Ns(t + jitter)}");
        }
        return lines;
    }

    private static string[] Run(List<string> lines, IEnumerable<int> cuts)
    {
        var engine = new ThresholdCheck(RuleSet);
        var events = new List<AlertEvent>();
        int start = 0;
        foreach (int cut in cuts.Append(lines.Count))
        {
            if (cut <= start) continue;
            var batch = Batch(lines.GetRange(start, cut - start));
            engine.Process(batch, events);
            PointBatch.Return(batch);
            start = cut;
        }
        return events.Select(e => $"{e.AlertId} {e.Previous}>{e.Level} {e.Reason} {e.Value} {e.Timestamp} {e.Message}").ToArray();
    }

    [Fact]
    public void TheSameStream_GivesTheSameEventsWhateverTheBatching()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, 10_000)), Arb.From(Gen.Choose(1, 40)), (seed, batchSize) =>
        {
            var lines = Stream(seed, 300);
            var whole = Run(lines, []);
            var split = Run(lines, Enumerable.Range(1, lines.Count / batchSize).Select(k => k * batchSize));
            var single = Run(lines, Enumerable.Range(1, lines.Count));
            return whole.Length > 0 && whole.SequenceEqual(split) && whole.SequenceEqual(single);
        }).QuickCheckThrowOnFailure();
    }
}
