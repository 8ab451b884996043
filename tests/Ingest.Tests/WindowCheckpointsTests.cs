using System.Text;
using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// <see cref="WindowCheckpoints"/> with a real log directory and the real transform runner: what a snapshot holds,
/// when it may replace the last one, and what a restart replays after it.
/// </summary>
public sealed class WindowCheckpointsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ingest-windows-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The daemon's parts around the windows, on <see cref="_dir"/>: log, buffer, runner, tier, checkpoints.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly Task _running;

        public Rig(string dir)
        {
            var options = new IngestOptions
            {
                Wal = new WalSettings { Directory = dir, SyncMode = Ingest.Wal.WalSyncMode.Interval },
                Downsample = new DownsampleOptions
                {
                    Tiers = [new DownsampleTier { Name = "1m", Interval = TimeSpan.FromMinutes(1), Aggregates = ["count", "sum"] }],
                },
            };
            var meter = TestMeters.Create();
            Log = new DurableLog(options, meter, NullLogger<DurableLog>.Instance);
            Buffer = new MemoryPointBuffer(1_000_000);
            Raw = new StageQueue("influx", 1_000_000, FullPolicy.Backpressure, (_, _) => { });
            Derived = new StageQueue("influx_derived", 1_000_000, FullPolicy.Backpressure, (_, _) => { });
            Stats = new StageStats("downsample", "transform");
            Downsample = new DownsampleTransform(options.Downsample, Stats, Log.Ledger);
            Runner = new TransformRunner(Buffer, [new TransformBranch(Downsample, FullPolicy.Backpressure, Stats, holdsWindows: true)], Derived, [],
                new StageStats("raw", "transform"), log: Log) { FlushAtEnd = false, TrackProcessed = true };
            Checkpoints = new WindowCheckpoints(Log, Runner, Downsample, meter, NullLogger<WindowCheckpoints>.Instance);
            _running = TestStreams.RunAsync(Buffer, Runner, Raw);
        }

        public DurableLog Log { get; }
        public MemoryPointBuffer Buffer { get; }
        public StageQueue Raw { get; }
        public StageQueue Derived { get; }
        public DownsampleTransform Downsample { get; }
        public StageStats Stats { get; }
        public TransformRunner Runner { get; }
        public WindowCheckpoints Checkpoints { get; }

        public static PointBatch Batch(string body)
        {
            var b = PointBatch.Rent();
            b.Database = "db";
            var summary = new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, b);
            Assert.Equal(0, summary.BadLines);
            return b;
        }

        /// <summary>Logs a batch (as a write does before it is answered); gives its sequence.</summary>
        public async Task<PointBatch> AppendAsync(string body)
        {
            var b = Batch(body);
            Assert.True(await Log.AppendAsync(b, CancellationToken.None));
            return b;
        }

        /// <summary>Hands batches to the runner in this order and waits until it has taken them.</summary>
        public async Task TakeAsync(params PointBatch[] batches)
        {
            long before = Runner.Branches[0].Taken;
            long points = 0;
            foreach (var b in batches)
            {
                points += b.Count;
                Assert.True(await Buffer.TryEnqueueAsync(b, TimeSpan.FromSeconds(5)));
            }
            var until = DateTime.UtcNow.AddSeconds(10);
            while (Runner.Branches[0].Taken < before + points) { Assert.True(DateTime.UtcNow < until, "the runner did not take the batches"); await Task.Delay(5); }
            // Taken; wait for the runner to let go of its lock, so that what it did is visible.
            Runner.RunExclusive(() => 0);
        }

        /// <summary>The windows written to the derived queue so far, delivered (or not) as the sink would.</summary>
        public async Task<List<string>> WrittenAsync(bool deliver)
        {
            var lines = new List<string>();
            while (Derived.Depth > 0 && await Derived.ReadAsync() is { } b)
            {
                for (int i = 0; i < b.Count; i++) lines.Add(Encoding.UTF8.GetString(b.Line(i)).TrimEnd('\n'));
                if (deliver) Log.Ledger.Finished(LedgerConsumer.Derived, b);
            }
            return lines;
        }

        public async ValueTask DisposeAsync()
        {
            Buffer.Complete();
            await _running;
            Log.Dispose();
        }
    }

    [Fact]
    public async Task Records_taken_out_of_order_before_the_snapshot_are_not_taken_again_after_a_restart()
    {
        List<string> written;
        await using (var before = new Rig(_dir))
        {
            var b1 = await before.AppendAsync("cpu v=1 1000000000\n");
            var b2 = await before.AppendAsync("cpu v=2 2000000000\n");
            var b3 = await before.AppendAsync("cpu v=4 3000000000\n");
            var b4 = await before.AppendAsync("cpu v=8 4000000000\n");
            Assert.Equal([1L, 2, 3, 4], new[] { b1.Sequence, b2.Sequence, b3.Sequence, b4.Sequence });
            // Record 4 reaches the runner before record 3 (its write was answered first).
            await before.TakeAsync(b1, b2, b4);
            Assert.True(await before.Checkpoints.TakeAsync(final: false, CancellationToken.None));
            Assert.Equal(2, before.Checkpoints.Last!.Covered);
            // "Crash": record 3 was acknowledged and logged, but never reached the windows.
        }

        await using var after = new Rig(_dir);
        var restored = after.Checkpoints.Restore();
        Assert.NotNull(restored);
        Assert.Equal(2, restored.Covered);
        Assert.Equal([4L], restored.Held);
        var (replay, clocks) = after.Log.ReadReplay(restored);
        Assert.Null(clocks);
        var batches = replay.ToList();
        Assert.True(after.Log.Ledger.Needs(LedgerConsumer.Transforms, 3));
        Assert.False(after.Log.Ledger.Needs(LedgerConsumer.Transforms, 4));
        Assert.False(after.Log.Ledger.Needs(LedgerConsumer.Transforms, 2));
        await after.TakeAsync([.. batches]);
        await after.Runner.FlushAsync();
        written = await after.WrittenAsync(deliver: true);
        // Every point once: 1 + 2 + 4 + 8.
        Assert.Equal(["cpu_1m v_sum=15,v_count=4i 0"], written);
    }

    [Fact]
    public async Task A_snapshot_replaces_the_last_one_only_once_the_windows_written_before_it_are_delivered()
    {
        await using var rig = new Rig(_dir);
        var first = await rig.AppendAsync("cpu v=1 1000000000\n");
        await rig.TakeAsync(first);
        Assert.True(await rig.Checkpoints.TakeAsync(final: false, CancellationToken.None));
        Assert.Equal(1, rig.Checkpoints.Last!.Covered);
        var snapshot = Path.Combine(_dir, "transforms.snapshot");
        var firstSnapshot = File.ReadAllBytes(snapshot);

        // A point of the next minute closes minute 0: its window is written but not delivered yet.
        var second = await rig.AppendAsync("cpu v=2 61000000000\n");
        await rig.TakeAsync(second);
        // The runner queues what it wrote once it has let go of the windows.
        var until = DateTime.UtcNow.AddSeconds(10);
        while (rig.Derived.Depth == 0) { Assert.True(DateTime.UtcNow < until, "minute 0 was not written"); await Task.Delay(5); }
        Assert.Single(await rig.WrittenAsync(deliver: false));
        // At shutdown it is not waited for: no snapshot replaces the last one, and the log keeps record 2 for the windows.
        Assert.False(await rig.Checkpoints.TakeAsync(final: true, CancellationToken.None));
        Assert.Equal(firstSnapshot, File.ReadAllBytes(snapshot));
        Assert.Equal(1, rig.Checkpoints.Last!.Covered);
        Assert.False(File.Exists(snapshot + ".tmp"));

        // Periodically it is waited for, and taken as soon as the window is delivered.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var taking = rig.Checkpoints.TakeAsync(final: false, stop.Token);
        await Task.Delay(100);
        Assert.False(taking.IsCompleted, "the snapshot was saved while a window written before it was still on its way");
        Assert.Equal(firstSnapshot, File.ReadAllBytes(snapshot));
        rig.Log.Ledger.Finished(LedgerConsumer.Derived, 1);
        Assert.True(await taking);
        Assert.Equal(2, rig.Checkpoints.Last!.Covered);
        Assert.NotEqual(firstSnapshot, File.ReadAllBytes(snapshot));
    }

    [Fact]
    public async Task An_unreadable_snapshot_is_set_aside_and_the_replay_falls_back_to_the_log()
    {
        await using (var before = new Rig(_dir))
        {
            var b = await before.AppendAsync("cpu v=1 1000000000\n");
            await before.TakeAsync(b);
            Assert.True(await before.Checkpoints.TakeAsync(final: false, CancellationToken.None));
        }
        var snapshot = Path.Combine(_dir, "transforms.snapshot");
        var bytes = File.ReadAllBytes(snapshot);
        bytes[^6] ^= 0x40;
        File.WriteAllBytes(snapshot, bytes);

        await using var after = new Rig(_dir);
        Assert.Null(after.Checkpoints.Restore());
        Assert.False(File.Exists(snapshot));
        Assert.True(File.Exists(snapshot + ".corrupt"));
        // The saved clocks and replay start (transforms.json) serve instead: record 1 is still in the log.
        var (replay, clocks) = after.Log.ReadReplay(null);
        Assert.NotNull(clocks);
        Assert.Equal(1, clocks.From);
        Assert.Single(replay.ToList());
    }
}
