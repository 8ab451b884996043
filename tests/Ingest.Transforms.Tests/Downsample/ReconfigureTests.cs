using System.Diagnostics;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Snapshots;
using Xunit.Abstractions;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

/// <summary>
/// A configuration reload: <c>Reconfigure</c> gives a new stage in which the tiers that stayed write exactly what they
/// would have written without it, the tiers that went or changed are flushed as <c>Flush</c> would, and new or
/// changed tiers start empty.
/// </summary>
public class ReconfigureTests(ITestOutputHelper output)
{
    private const string All = "mean,min,max,sum,count,first,last,p50,p90,p95,p99";

    private static readonly DownsampleTier[] Before =
    [
        Tier("10s", 1.0 / 6, 0.5, "mean,min,max,sum,count,first,last"),
        Tier("1m", 1, 1, All),
        Tier("5m", 5, 0, All, source: "1m"),
        Tier("1h", 60, 0, "sum,count,first,last", source: "10s"),
        Tier("30s", 0.5, 0, "sum,count"),
    ];

    // 10s and 1h removed, 1m and its derived 5m kept, 30s changed, 2m added.
    private static readonly DownsampleTier[] After =
    [
        Tier("1m", 1, 1, All),
        Tier("2m", 2, 0.5, "mean,count,p90"),
        Tier("5m", 5, 0, All, source: "1m"),
        Tier("30s", 0.5, 0, "sum,count,max"),
    ];

    private static List<string> OfTier(IEnumerable<string> lines, string tier) =>
        lines.Where(l => Decode(l).Measurement.EndsWith("_" + tier, StringComparison.Ordinal)).ToList();

    private static DownsampleHarness Reconfigure(DownsampleHarness h, DownsampleTier[] tiers, out TierChanges changes, out List<string> flushed)
    {
        var lines = new List<string>();
        var next = h.Stage.Reconfigure(new DownsampleOptions { Tiers = tiers }, batch =>
        {
            for (int i = 0; i < batch.Count; i++) lines.Add(Encoding.UTF8.GetString(batch.Line(i)).TrimEnd('\n'));
            PointBatch.Return(batch);
        }, out changes);
        flushed = lines;
        return new DownsampleHarness(next);
    }

    /// <summary>
    /// The oracle: over random streams and cuts, a kept tier (and the tier it feeds) writes over the whole run, line for
    /// line, what a stage never reconfigured writes; the tiers that go are flushed as a Flush would; the added and the
    /// changed tier write what a fresh stage fed only the points after the reload writes.
    /// </summary>
    [Fact]
    public void Kept_tiers_write_what_they_would_have_written_without_the_reload()
    {
        for (int seed = 1; seed <= 40; seed++)
        {
            var stream = SnapshotTests.Stream(seed, 200);
            int cut = new Random(seed).Next(1, 199);
            var plain = new DownsampleHarness(Before);
            var flushedAtCut = new DownsampleHarness(Before);
            var reloaded = new DownsampleHarness(Before);
            var fresh = new DownsampleHarness(After);
            for (int i = 0; i < cut; i++)
            {
                plain.Process(SnapshotTests.Batch(stream[i], i + 1));
                flushedAtCut.Process(SnapshotTests.Batch(stream[i], i + 1));
                reloaded.Process(SnapshotTests.Batch(stream[i], i + 1));
            }
            var statsBefore = reloaded.Stage.GetStats();
            int before = flushedAtCut.Lines.Count;
            var flushLines = flushedAtCut.Flush();
            var after = Reconfigure(reloaded, After, out var changes, out var flushed);
            Assert.Equal(new[] { "1m", "5m" }, changes.Unchanged);
            Assert.Equal(new[] { "30s" }, changes.Changed);
            Assert.Equal(new[] { "2m" }, changes.Added);
            Assert.Equal(new[] { "10s", "1h" }, changes.Removed);

            // The tiers that go write what a Flush writes for them, in the same order.
            Assert.Equal(flushLines.Where(l => OfTier([l], "10s").Count + OfTier([l], "1h").Count + OfTier([l], "30s").Count > 0), flushed);
            Assert.Empty(OfTier(flushed, "1m")); // kept tiers are not flushed
            Assert.Empty(OfTier(flushed, "5m"));
            // Kept tiers' clocks go on.
            Assert.Equal(reloaded.Stage.GetClocks().Where(c => c.Tier is "1m" or "5m"), after.Stage.GetClocks().Where(c => c.Tier is "1m" or "5m"));

            for (int i = cut; i < stream.Count; i++)
            {
                plain.Process(SnapshotTests.Batch(stream[i], i + 1));
                after.Process(SnapshotTests.Batch(stream[i], i + 1));
                fresh.Process(SnapshotTests.Batch(stream[i], i + 1));
            }
            plain.Flush();
            after.Flush();
            fresh.Flush();

            var whole = reloaded.Lines.Concat(after.Lines).ToList();
            foreach (var tier in new[] { "1m", "5m" })
            {
                Assert.Equal(OfTier(plain.Lines, tier), OfTier(whole, tier));
                var expected = plain.Stage.GetStats(Array.FindIndex(Before, t => t.Name == tier)) with { EstimatedBytes = 0 };
                var actual = after.Stage.GetStats(Array.FindIndex(After, t => t.Name == tier)) with { EstimatedBytes = 0 };
                Assert.Equal(expected, actual);
            }
            foreach (var tier in new[] { "2m", "30s" }) Assert.Equal(OfTier(fresh.Lines, tier), OfTier(after.Lines, tier));
            Assert.True(statsBefore[1].PointsAggregated > 0);
        }
    }

    [Fact]
    public void A_reload_that_changes_nothing_keeps_everything()
    {
        var stream = SnapshotTests.Stream(11, 120);
        var plain = new DownsampleHarness(Before);
        var reloaded = new DownsampleHarness(Before);
        for (int i = 0; i < 60; i++)
        {
            plain.Process(SnapshotTests.Batch(stream[i], i + 1));
            reloaded.Process(SnapshotTests.Batch(stream[i], i + 1));
        }
        // Equal settings in other list instances.
        var copy = Before.Select(t => t with { Measurements = [.. t.Measurements], Fields = [.. t.Fields], Aggregates = [.. t.Aggregates] }).ToArray();
        var after = Reconfigure(reloaded, copy, out var changes, out var flushed);
        Assert.Equal(Before.Select(t => t.Name), changes.Unchanged);
        Assert.Empty(changes.Changed);
        Assert.Empty(flushed);
        Assert.Equal(reloaded.Stage.OldestRetainedSequence, after.Stage.OldestRetainedSequence);
        Assert.Equal(SnapshotTests.Snapshot(plain.Stage), SnapshotTests.Snapshot(after.Stage));
        for (int i = 60; i < stream.Count; i++)
        {
            plain.Process(SnapshotTests.Batch(stream[i], i + 1));
            after.Process(SnapshotTests.Batch(stream[i], i + 1));
        }
        plain.Flush();
        after.Flush();
        Assert.Equal(plain.Lines, reloaded.Lines.Concat(after.Lines));
    }

    [Fact]
    public void A_tier_whose_source_changed_is_changed_and_flushed_after_its_source()
    {
        var tiers = new[] { Tier("1m", 1, 0, "sum,count"), Tier("5m", 5, 0, "sum,count", source: "1m") };
        var h = new DownsampleHarness(tiers);
        h.Process(Line("cpu,host=a", "v=1", 10) + Line("cpu,host=a", "v=2", Minutes(1.5)) + Line("cpu,host=a", "v=4", Minutes(2.5)));
        var after = Reconfigure(h, [Tier("1m", 1, 1, "sum,count"), Tier("5m", 5, 0, "sum,count", source: "1m")], out var changes, out var flushed);
        Assert.Equal(new[] { "1m", "5m" }, changes.Changed);
        // The 1m window at 2m is written, then the coarse window with all three points.
        Assert.Equal(4, Float(Single(flushed, "cpu_1m", Minutes(2)), "v_sum"));
        Assert.Equal(7, Float(Single(flushed, "cpu_5m", 0), "v_sum"));
        Assert.Equal(0, after.Stage.InternedSeries);
        Assert.Equal(long.MaxValue, after.Stage.OldestRetainedSequence);
    }

    /// <summary>
    /// Documents a limit: a changed tier fed by a kept source is flushed with the source windows already closed, and the
    /// new one starts empty, so its first coarse window holds only what the source closes after the reload.
    /// </summary>
    [Fact]
    public void A_changed_tier_fed_by_a_kept_source_rewrites_its_first_coarse_window_from_the_reload_on()
    {
        var tiers = new[] { Tier("1m", 1, 0, "sum"), Tier("5m", 5, 0, "sum", source: "1m") };
        var h = new DownsampleHarness(tiers);
        h.Process(Line("cpu,host=a", "v=1", Minutes(0.5)) + Line("cpu,host=a", "v=2", Minutes(1.5)) + Line("cpu,host=a", "v=4", Minutes(2.5)));
        var after = Reconfigure(h, [tiers[0], Tier("5m", 5, 0, "sum,count", source: "1m")], out var changes, out var flushed);
        Assert.Equal(new[] { "1m" }, changes.Unchanged);
        Assert.Equal(3, Float(Single(flushed, "cpu_5m", 0), "v_sum")); // the 1m windows closed before the reload
        var later = after.Process(Line("cpu,host=a", "v=8", Minutes(5.5)));
        Assert.Equal(4, Float(Single(later, "cpu_5m", 0), "v_sum")); // the one still open at the reload
    }

    [Fact]
    public void Settings_are_compared_element_by_element_and_each_one_counts()
    {
        var tier = Tier("1m", 1, 0, "sum,count") with { Measurements = ["cpu", "mem*"], Fields = ["usage"] };
        DownsampleTier[] variants =
        [
            tier with { Measurements = ["cpu"] },
            tier with { Fields = ["usage", "load"] },
            tier with { Aggregates = ["sum", "count", "mean"] },
            tier with { Interval = TimeSpan.FromMinutes(2) },
            tier with { AllowedLateness = TimeSpan.FromSeconds(1) },
            tier with { RetentionPolicy = "week" },
        ];
        foreach (var variant in variants)
        {
            new DownsampleStage(new DownsampleOptions { Tiers = [tier] }).Reconfigure(new DownsampleOptions { Tiers = [variant] }, _ => { }, out var changes);
            Assert.Equal(new[] { "1m" }, changes.Changed);
        }
        var same = tier with { Measurements = ["cpu", "mem*"], Fields = ["usage"], Aggregates = ["sum", "count"], RetentionPolicy = "" };
        new DownsampleStage(new DownsampleOptions { Tiers = [tier] }).Reconfigure(new DownsampleOptions { Tiers = [same] }, _ => { }, out var none);
        Assert.Equal(new[] { "1m" }, none.Unchanged);
    }

    [Fact]
    public void Invalid_options_or_a_snapshot_in_progress_are_refused_before_anything_changes()
    {
        var h = new DownsampleHarness(Before);
        foreach (var item in SnapshotTests.Stream(3, 40)) h.Process(item.Body, item.Database);
        var state = SnapshotTests.Snapshot(h.Stage);
        int lines = h.Lines.Count;

        var invalid = new DownsampleOptions { Tiers = [Tier("1m", 1), Tier("1m", 2)] };
        Assert.Throws<ArgumentException>(() => h.Stage.Reconfigure(invalid, _ => Assert.Fail("nothing to write"), out _));
        var snapshot = h.Stage.BeginSnapshot(new StateWriter(Stream.Null));
        Assert.Throws<InvalidOperationException>(() => h.Stage.Reconfigure(new DownsampleOptions { Tiers = After }, _ => Assert.Fail("nothing to write"), out _));
        snapshot.Abort();

        Assert.Equal(state, SnapshotTests.Snapshot(h.Stage));
        Assert.Equal(lines, h.Lines.Count);
    }

    /// <summary>Not a timed assertion: how long a reload takes with many windows open, for the record.</summary>
    [Fact]
    public void Reload_time_with_ten_thousand_series_in_two_tiers()
    {
        var tiers = new[] { Tier("1m", 1, 1, "mean,min,max,sum,count,first,last"), Tier("1h", 60, 0, "mean,count,p99") };
        var h = new DownsampleHarness(tiers);
        var body = new StringBuilder();
        for (int s = 0; s < 10_000; s++) body.Append(Line($"cpu,host=h{s}", $"usage={s % 97},load={s % 13}i", Minutes(0.5) + s));
        h.Process(body.ToString());
        Assert.Equal(20_000, h.Stage.GetStats().Sum(t => t.OpenWindows));

        var options = new DownsampleOptions { Tiers = [.. tiers, Tier("5m", 5)] };
        var timer = Stopwatch.StartNew();
        var next = h.Stage.Reconfigure(options, _ => { }, out _);
        timer.Stop();
        Assert.Equal(20_000, next.GetStats().Sum(t => t.OpenWindows));
        // Again on a warm runtime (the first call also compiles the snapshot code).
        var again = new DownsampleHarness(tiers);
        again.Process(body.ToString());
        var warm = Stopwatch.StartNew();
        again.Stage.Reconfigure(options, _ => { }, out _);
        warm.Stop();
        output.WriteLine($"Reconfigure with 10 000 series x 2 tiers open (20 000 windows, 2 fields): first {timer.Elapsed.TotalMilliseconds:F1} ms, warm {warm.Elapsed.TotalMilliseconds:F1} ms");
    }
}
