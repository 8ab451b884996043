using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

/// <summary>
/// What the write-ahead log relies on: replaying the batches from <c>OldestRetainedSequence</c> on, into a
/// stage whose clocks were restored, rebuilds the held windows whole and reopens no closed one.
/// </summary>
public class ReplayTests
{
    private static PointBatch Batch(string body, long sequence)
    {
        var batch = PointBatch.Rent();
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
        batch.Database = "db";
        batch.Sequence = sequence;
        return batch;
    }

    [Fact]
    public void Oldest_retained_sequence_follows_the_windows_still_held()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 1, aggregates: "count"));
        Assert.Equal(long.MaxValue, h.Stage.OldestRetainedSequence);

        h.Process(Batch(Line("cpu", "v=1", 10), 5));
        Assert.Equal(5, h.Stage.OldestRetainedSequence);
        h.Process(Batch(Line("cpu", "v=1", Minutes(1.2)), 6));
        Assert.Equal(5, h.Stage.OldestRetainedSequence); // window 0 written, but kept for its lateness
        // A late point for window 0 arriving in batch 7 is in that window too; the window still starts at 5.
        h.Process(Batch(Line("cpu", "v=1", 20), 7));
        Assert.Equal(5, h.Stage.OldestRetainedSequence);
        h.Process(Batch(Line("cpu", "v=1", Minutes(2.1)), 8));
        Assert.Equal(6, h.Stage.OldestRetainedSequence); // window 0 closed
        h.Flush();
        Assert.Equal(long.MaxValue, h.Stage.OldestRetainedSequence);
    }

    [Fact]
    public void A_batch_arriving_out_of_sequence_lowers_its_window_group()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 5, aggregates: "count"));
        h.Process(Batch(Line("cpu,h=a", "v=1", 10), 9));
        h.Process(Batch(Line("cpu,h=a", "v=1", 11), 4));
        Assert.Equal(4, h.Stage.OldestRetainedSequence);
    }

    [Fact]
    public void A_source_tier_passes_its_window_sequence_to_the_tier_it_feeds()
    {
        var h = new DownsampleHarness(Tier("1m", 1, aggregates: "count"), Tier("5m", 5, aggregates: "count", source: "1m"));
        h.Process(Batch(Line("cpu", "v=1", 10), 3));
        h.Process(Batch(Line("cpu", "v=1", Minutes(1.5)), 4));
        // The 1m window [0,1m) closed and merged into 5m window [0,5m), which now needs batch 3.
        Assert.Equal(3, h.Stage.OldestRetainedSequence);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Replaying_from_a_checkpoint_rewrites_only_whole_windows(int seed)
    {
        var random = new Random(seed);
        var bodies = new List<string>();
        long now = 0;
        for (var b = 0; b < 300; b++)
        {
            var body = new StringBuilder();
            now += random.NextInt64(0, 3_000_000_000);
            for (var p = 0; p < 5; p++)
            {
                // Mostly current points, some a minute or two late: within lateness, and beyond it.
                long t = Math.Max(0, now - (random.Next(10) == 0 ? random.NextInt64(0, Minutes(2.5)) : random.NextInt64(0, 2_000_000_000)));
                body.Append(Line($"cpu,host=h{random.Next(3)}", $"v={random.Next(100)}", t));
            }
            bodies.Add(body.ToString());
        }

        var tiers = new[] { Tier("1m", 1, latenessMinutes: 1, aggregates: "sum,count,min,max"), Tier("3m", 3, aggregates: "sum,count", source: "1m") };
        var original = new DownsampleHarness(tiers);
        var checkpointAt = 150 + random.Next(100);
        long from = 0;
        long checkpoint = 0;
        TierClock[] clocks = [];
        for (var i = 0; i < bodies.Count; i++)
        {
            original.Process(Batch(bodies[i], i + 1));
            if (i + 1 == checkpointAt)
            {
                from = Math.Min(original.Stage.OldestRetainedSequence, i + 2);
                clocks = original.Stage.GetClocks();
                checkpoint = i + 1;
            }
        }
        original.Flush();

        var replayed = new DownsampleHarness(tiers);
        replayed.Stage.RestoreClocks(clocks, checkpoint);
        for (var i = (int)from - 1; i < bodies.Count; i++) replayed.Process(Batch(bodies[i], i + 1));
        replayed.Flush();

        // The final line of every window the replay wrote is the original's final line for that window.
        var finalOriginal = Final(original.Lines);
        var finalReplayed = Final(replayed.Lines);
        Assert.NotEmpty(finalReplayed);
        foreach (var (window, line) in finalReplayed) Assert.Equal(finalOriginal[window], line);
        // And every window the original still held at the checkpoint was rebuilt.
        Assert.Contains(finalOriginal.Keys, k => finalReplayed.ContainsKey(k));
    }

    private static Dictionary<string, string> Final(IEnumerable<string> lines)
    {
        var last = new Dictionary<string, string>();
        foreach (var line in lines)
        {
            var p = Decode(line);
            last[p.Measurement + "," + string.Join(",", p.Tags.Select(t => t.Key + "=" + t.Value)) + "@" + p.Timestamp] = line;
        }
        return last;
    }
}
