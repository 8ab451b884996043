using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Snapshots;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

/// <summary>
/// What checkpointing the windows relies on: a stage written with <c>WriteSnapshot</c> and read back with
/// <c>ReadSnapshot</c> carries on exactly as the original, whatever batches follow.
/// </summary>
public class SnapshotTests
{
    private const string All = "mean,min,max,sum,count,first,last,p50,p90,p95,p99";

    private static readonly DownsampleTier[] Tiers =
    [
        Tier("10s", 1.0 / 6, 0.5, "mean,min,max,sum,count,first,last"),
        Tier("1m", 1, 1, All),
        Tier("5m", 5, 0, All, source: "1m"),
        Tier("1h", 60, 0, "sum,count,first,last", source: "10s"),
    ];

    internal static byte[] Snapshot(DownsampleStage stage)
    {
        using var stream = new MemoryStream();
        using (var writer = new StateWriter(stream))
        {
            stage.WriteSnapshot(writer);
            writer.Complete();
        }
        return stream.ToArray();
    }

    internal static DownsampleStage Restore(DownsampleOptions options, byte[] snapshot, out IReadOnlyList<string> notes)
    {
        using var stream = new MemoryStream(snapshot);
        using var reader = new StateReader(stream, snapshot.Length - 4);
        var stage = DownsampleStage.ReadSnapshot(options, reader, out notes);
        reader.Complete();
        return stage;
    }

    /// <summary>
    /// Random request bodies over several measurements, series, databases and field types: mostly current points,
    /// some late within the lateness and some beyond it, runs of equal timestamps (first/last ties), values of both
    /// signs, zeros, integers and unsigned, strings and booleans that are not aggregated.
    /// </summary>
    internal static List<(string Body, string Database)> Stream(int seed, int batches)
    {
        var random = new Random(seed);
        var list = new List<(string, string)>();
        long now = Minutes(600);
        for (int b = 0; b < batches; b++)
        {
            var body = new StringBuilder();
            now += random.NextInt64(0, 4_000_000_000);
            int points = random.Next(1, 12);
            long tie = now - random.NextInt64(0, 1_000_000_000);
            for (int p = 0; p < points; p++)
            {
                long t = random.Next(12) switch
                {
                    0 => now - random.NextInt64(0, Minutes(2.5)), // late: within a minute's lateness or past it
                    1 or 2 => tie,                               // ties for first/last
                    _ => now - random.NextInt64(0, 2_000_000_000),
                };
                double v = random.Next(6) == 0 ? 0 : Math.Round(random.NextDouble() * 2000 - 500, random.Next(4));
                string value = v.ToString("R", CultureInfo.InvariantCulture);
                string fields = random.Next(4) switch
                {
                    0 => $"usage={value},load={random.Next(-50, 50)}i,note=\"x{p}\"",
                    1 => $"usage={value},ok=true,bytes={random.Next(0, 1 << 20)}u",
                    2 => $"load={random.Next(-50, 50)}i,usage={value}",
                    _ => $"temp={value}",
                };
                string measurement = random.Next(5) == 0 ? "disk\\ io" : "cpu";
                body.Append($"{measurement},host=h{random.Next(6)},dc=eu\\,west {fields} {t}\n");
            }
            list.Add((body.ToString(), random.Next(7) == 0 ? "other" : "db"));
        }
        return list;
    }

    /// <summary>
    /// The property: for a random stream, a random cut, and the options above, the lines written after the cut are the
    /// same, in the same order, whether the stage went on or was written to a snapshot and read back at the cut.
    /// A snapshot of the restored stage is also byte for byte the snapshot it was read from.
    /// </summary>
    [Fact]
    public void A_stage_restored_from_a_snapshot_writes_exactly_what_the_original_writes_for_any_continuation()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, 100_000)), Arb.From(Gen.Choose(1, 199)), Arb.From(Gen.Choose(0, 3)), (seed, cut, extra) =>
        {
            var options = new DownsampleOptions { Tiers = Tiers };
            var stream = Stream(seed, 200);
            var original = new DownsampleHarness(Tiers);
            // Sometimes with clocks restored (a replay after the old checkpoint) or a flush before the cut.
            if (extra == 1) original.Stage.RestoreClocks([new TierClock("1m", Minutes(602), Minutes(601)), new TierClock("10s", Minutes(603), long.MinValue)], 40);
            for (int i = 0; i < cut; i++)
            {
                original.Process(Batch(stream[i], i + 1));
                if (extra == 2 && i == cut / 2) original.Flush();
            }
            var snapshot = Snapshot(original.Stage);
            var restored = new DownsampleHarness(Restore(options, snapshot, out var notes));
            Assert.Empty(notes);
            Assert.Equal(snapshot, Snapshot(restored.Stage));
            Assert.Equal(original.Stage.OldestRetainedSequence, restored.Stage.OldestRetainedSequence);
            Assert.Equal(original.Stage.GetClocks(), restored.Stage.GetClocks());

            int before = original.Lines.Count;
            for (int i = cut; i < stream.Count; i++)
            {
                original.Process(Batch(stream[i], i + 1));
                restored.Process(Batch(stream[i], i + 1));
                if (extra == 3 && i == cut + 10) { original.Flush(); restored.Flush(); }
            }
            original.Flush();
            restored.Flush();
            var expected = original.Lines.Skip(before).ToList();
            Assert.Equal(expected, restored.Lines);
            Assert.Equal(Snapshot(original.Stage), Snapshot(restored.Stage));
            return expected.Count > 0;
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>
    /// A snapshot written a few windows at a time while the stage goes on processing batches holds the state as it was
    /// when it began: read back, it is the stage that was stopped there, and it continues exactly as the original.
    /// </summary>
    [Fact]
    public void A_snapshot_written_in_slices_while_batches_go_on_is_the_state_at_its_start()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, 100_000)), Arb.From(Gen.Choose(20, 150)), Arb.From(Gen.Choose(1, 6)), (seed, cut, slice) =>
        {
            var options = new DownsampleOptions { Tiers = Tiers };
            var stream = Stream(seed, 200);
            var running = new DownsampleHarness(Tiers);
            var stopped = new DownsampleHarness(Tiers);
            for (int i = 0; i < cut; i++)
            {
                running.Process(Batch(stream[i], i + 1));
                stopped.Process(Batch(stream[i], i + 1));
            }

            using var file = new MemoryStream();
            var writer = new StateWriter(file);
            var snapshot = running.Stage.BeginSnapshot(writer);
            int next = cut;
            // Batches (with their new points, merges, writes and closings) and slices of the snapshot take turns.
            while (!snapshot.WriteSome(TimeSpan.MaxValue, slice))
            {
                if (next < stream.Count) running.Process(Batch(stream[next], ++next));
                if (next == cut + 30) running.Flush();
            }
            snapshot.Complete();
            writer.Complete();
            writer.Dispose();
            Assert.Equal(snapshot.Windows, snapshot.Written);

            var restored = new DownsampleHarness(Restore(options, file.ToArray(), out var notes));
            Assert.Empty(notes);
            // Read back, it is the stage stopped at the start of the snapshot, byte for byte.
            Assert.Equal(Snapshot(stopped.Stage), Snapshot(restored.Stage));
            int before = stopped.Lines.Count;
            for (int i = cut; i < stream.Count; i++)
            {
                stopped.Process(Batch(stream[i], i + 1));
                restored.Process(Batch(stream[i], i + 1));
            }
            stopped.Flush();
            restored.Flush();
            Assert.Equal(stopped.Lines.Skip(before), restored.Lines);
            return snapshot.WrittenEarly > 0 || snapshot.Windows <= slice;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_snapshot_given_up_leaves_the_stage_as_if_none_had_been_taken()
    {
        var stream = Stream(77, 120);
        var plain = new DownsampleHarness(Tiers);
        var aborted = new DownsampleHarness(Tiers);
        for (int i = 0; i < 60; i++)
        {
            plain.Process(Batch(stream[i], i + 1));
            aborted.Process(Batch(stream[i], i + 1));
        }
        var snapshot = aborted.Stage.BeginSnapshot(new StateWriter(System.IO.Stream.Null));
        snapshot.WriteSome(TimeSpan.MaxValue, 2);
        aborted.Process(Batch(stream[60], 61));
        plain.Process(Batch(stream[60], 61));
        snapshot.Abort();
        Assert.Equal(Snapshot(plain.Stage), Snapshot(aborted.Stage));
        for (int i = 61; i < stream.Count; i++)
        {
            plain.Process(Batch(stream[i], i + 1));
            aborted.Process(Batch(stream[i], i + 1));
        }
        Assert.Equal(plain.Lines, aborted.Lines);
        // And the next snapshot can begin.
        Assert.NotNull(aborted.Stage.BeginSnapshot(new StateWriter(System.IO.Stream.Null)));
    }

    [Fact]
    public void First_and_last_ties_across_the_snapshot_keep_arrival_order()
    {
        var tiers = new[] { Tier("1m", 1, 0, "first,last,count") };
        var h = new DownsampleHarness(tiers);
        h.Process(Line("cpu,host=a", "v=1", 10) + Line("cpu,host=a", "v=2", 10));
        var restored = new DownsampleHarness(Restore(new DownsampleOptions { Tiers = tiers }, Snapshot(h.Stage), out _));
        // Same timestamp again after the restore: the later arrival becomes last, the first stays first.
        restored.Process(Line("cpu,host=a", "v=3", 10) + Line("cpu,host=a", "v=9", Minutes(1.5)));
        var w = Single(restored.Lines, "cpu_1m", 0);
        Assert.Equal(1, Float(w, "v_first"));
        Assert.Equal(3, Float(w, "v_last"));
        Assert.Equal(3, Float(w, "v_count"));
    }

    [Fact]
    public void A_late_point_after_the_restore_rewrites_the_window_with_every_point_of_it()
    {
        var tiers = new[] { Tier("1m", 1, 2, "sum,count,min,max,p50") };
        var h = new DownsampleHarness(tiers);
        h.Process(Line("cpu,host=a", "v=1", 10) + Line("cpu,host=a", "v=5", Minutes(0.5)));
        var written = h.Process(Line("cpu,host=a", "v=7", Minutes(1.2)));
        Assert.Equal(5, Float(Single(written, "cpu_1m", 0), "v_max")); // written once the watermark passed its end

        var restored = new DownsampleHarness(Restore(new DownsampleOptions { Tiers = tiers }, Snapshot(h.Stage), out _));
        var rewritten = restored.Process(Line("cpu,host=a", "v=2", Minutes(0.7)));
        var w = Single(rewritten, "cpu_1m", 0);
        Assert.Equal(8, Float(w, "v_sum"));
        Assert.Equal(3, Float(w, "v_count"));
        Assert.InRange(Float(w, "v_p50"), 2 * 0.99, 2 * 1.01); // the median of 1, 5 and 2, within the sketch's 1 %
        // Past the lateness the window is gone in the restored stage too: a point for it is late.
        restored.Process(Line("cpu,host=a", "v=1", Minutes(3.5)));
        Assert.DoesNotContain(restored.Process(Line("cpu,host=a", "v=100", Minutes(0.8))), l => Decode(l).Timestamp == 0);
        Assert.Equal(1, restored.Stage.GetStats(0).PointsDroppedLate);
    }

    [Fact]
    public void A_source_tier_merges_windows_closed_after_the_restore_into_the_coarse_window_restored_with_it()
    {
        var tiers = new[] { Tier("1m", 1, 0, All), Tier("5m", 5, 0, All, source: "1m") };
        var direct = new DownsampleHarness(Tier("5m", 5, 0, All));
        var h = new DownsampleHarness(tiers);
        var random = new Random(3);
        var bodies = Enumerable.Range(0, 60).Select(i => Line("cpu,host=a", $"v={random.Next(1000)}", i * 5_000_000_000L)).ToList();
        foreach (var b in bodies.Take(30)) h.Process(b);
        var restored = new DownsampleHarness(Restore(new DownsampleOptions { Tiers = tiers }, Snapshot(h.Stage), out _));
        foreach (var b in bodies.Skip(30)) restored.Process(b);
        foreach (var b in bodies) direct.Process(b);
        restored.Flush();
        direct.Flush();
        var coarse = Single(restored.Lines, "cpu_5m", 0);
        var expected = Single(direct.Lines, "cpu_5m", 0);
        foreach (var f in expected.Fields) Assert.Equal(Float(expected, f.Key), Float(coarse, f.Key), 9);
    }

    [Fact]
    public void A_tier_changed_since_the_snapshot_starts_empty_and_the_change_is_reported()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 0, "count"), Tier("1h", 60, 0, "count"));
        h.Process(Line("cpu,host=a", "v=1", 10));
        var changed = new DownsampleOptions { Tiers = [Tier("1m", 2, 0, "count"), Tier("1d", 1440, 0, "count")] };
        var restored = new DownsampleHarness(Restore(changed, Snapshot(h.Stage), out var notes));
        Assert.Contains(notes, n => n.Contains("'1m' changed", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("'1h' is no longer configured", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("'1d' is new", StringComparison.Ordinal));
        Assert.Equal(long.MaxValue, restored.Stage.OldestRetainedSequence);
        Assert.Equal(0, restored.Stage.InternedSeries);
    }

    [Fact]
    public void A_damaged_or_cut_snapshot_is_refused()
    {
        var options = new DownsampleOptions { Tiers = Tiers };
        var h = new DownsampleHarness(Tiers);
        foreach (var (body, db) in Stream(5, 50)) h.Process(body, db);
        var good = Snapshot(h.Stage);
        Assert.True(good.Length > 1000);
        var random = new Random(9);
        for (int i = 0; i < 200; i++)
        {
            var bad = (byte[])good.Clone();
            bad[random.Next(bad.Length)] ^= (byte)(1 << random.Next(8));
            Assert.Throws<FormatException>(() => Restore(options, bad, out _));
        }
        foreach (int length in new[] { 0, 1, 4, good.Length / 2, good.Length - 5 })
        {
            var cut = good.AsSpan(0, length).ToArray();
            Assert.ThrowsAny<Exception>(() => Restore(options, cut, out _));
        }
    }

    internal static PointBatch Batch((string Body, string Database) item, long sequence)
    {
        var batch = PointBatch.Rent();
        var summary = new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(item.Body), Precision.Nanoseconds, 0, batch);
        Assert.Equal(0, summary.BadLines);
        batch.Database = item.Database;
        batch.Sequence = sequence;
        return batch;
    }
}
