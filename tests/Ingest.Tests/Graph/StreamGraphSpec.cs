using Ingest.Buffering;
using Ingest.Graph;
using Ingest.LineProtocol;

namespace Ingest.Tests.Graph;

/// <summary>
/// The admitted batches' graph with a derived sink that stands still: nothing reads the derived queue, as when the
/// InfluxDB target of the windows hangs. Raw delivery must not wait on it.
/// </summary>
public class StreamGraphSpec
{
    private const int Batches = 50, PointsEach = 10;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Derives one single-point batch from every batch it sees, as a tier closing a window would.</summary>
    private sealed class OneWindowPerBatch : ITransformStage
    {
        public int Seen;
        public string Name => "windows";

        public void Process(PointBatch input, ITransformOutput output)
        {
            Seen++;
            var derived = PointBatch.Rent();
            derived.Database = input.Database;
            derived.CopyPointFrom(input, 0);
            output.Derived(derived);
        }

        public void Flush(ITransformOutput output)
        {
        }
    }

    /// <summary>Takes batches only while let through, as a live state stuck on a lock would.</summary>
    private sealed class Gated : ITransformStage
    {
        public readonly ManualResetEventSlim Open = new(false);
        public long Points;
        public string Name => "live";

        public void Process(PointBatch input, ITransformOutput output)
        {
            Open.Wait();
            Interlocked.Add(ref Points, input.Count);
        }

        public void Flush(ITransformOutput output)
        {
        }
    }

    private sealed class Rig
    {
        public readonly MemoryPointBuffer Buffer = new(1_000_000);
        public readonly StageQueue Raw = new("influx", 1_000_000, FullPolicy.Backpressure, (_, _) => { });
        // Room for one window: the second blocks the transforms until somebody reads, which nobody does.
        public readonly StageQueue Derived = new("influx_derived", 1, FullPolicy.Backpressure, (_, _) => { });
        public readonly OneWindowPerBatch Windows = new();
        public readonly TransformRunner Runner;

        /// <param name="more">Branches beside the windows'.</param>
        public Rig(params TransformBranch[] more) =>
            Runner = new TransformRunner(Buffer, [new TransformBranch(Windows, FullPolicy.Backpressure, new StageStats("windows", "transform"), holdsWindows: true), .. more],
                Derived, [], new StageStats("raw", "transform"));

        public async Task WriteAsync(int batches)
        {
            for (var i = 0; i < batches; i++)
                Assert.True(await Buffer.TryEnqueueAsync(TestBatches.Make(PointsEach, first: i * PointsEach, database: "db"), TimeSpan.Zero));
        }

        /// <summary>Reads raw batches as the raw sink would, finishing each; gives how many arrived in time.</summary>
        public async Task<int> DeliverRawAsync(int expected, TimeSpan? patience = null)
        {
            using var timeout = new CancellationTokenSource(patience ?? Patience);
            var delivered = 0;
            try
            {
                while (delivered < expected && await Raw.ReadAsync(timeout.Token) is { } b)
                {
                    Buffer.Release(b.Count);
                    b.Release();
                    delivered++;
                }
            }
            catch (OperationCanceledException)
            {
            }
            return delivered;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not come true in time");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_StreamGraph_must_end_when_the_buffer_is_completed_while_it_waits_for_batches()
    {
        var rig = new Rig();
        var graph = TestStreams.Start(rig.Buffer, rig.Runner, rig.Raw, transformsCapacity: 1_000);
        await rig.WriteAsync(1);
        Assert.Equal(1, await rig.DeliverRawAsync(1));

        rig.Buffer.Complete();

        await graph.Completion.WaitAsync(Patience);
        Assert.Null(await rig.Raw.ReadAsync());
    }

    [Fact]
    public async Task A_StreamGraph_must_hold_batches_in_the_buffer_while_paused_and_deliver_them_once_resumed()
    {
        var rig = new Rig();
        // The windows' output is read here, so that the end of the test is the graph's own.
        var derived = Task.Run(async () =>
        {
            while (await rig.Derived.ReadAsync() is { } b) b.Release();
        });
        var taken = new StageStats("buffer", "buffer");
        var graph = StreamGraph.Run(rig.Buffer, rig.Runner, TestStreams.Into(rig.Raw), taken, transformsCapacity: 1_000, TestStreams.Materializer,
            CancellationToken.None);
        await rig.WriteAsync(1);
        Assert.Equal(1, await rig.DeliverRawAsync(1));

        Assert.True(await graph.PauseAsync());
        await rig.WriteAsync(5);
        // The valve had asked for one more batch before it closed: once the graph has taken that one from the buffer,
        // and has then answered a question asked after it (so it has handled every event before), nothing went past.
        await WaitForAsync(() => taken.Sent >= 2 * PointsEach);
        Assert.True(await graph.IsPausedAsync());
        Assert.Equal(0, rig.Raw.Depth);
        Assert.Equal(2 * PointsEach, taken.Sent);
        Assert.Equal(5 * PointsEach, rig.Buffer.Depth);

        Assert.True(await graph.ResumeAsync());
        Assert.Equal(5, await rig.DeliverRawAsync(5));
        rig.Buffer.Complete();
        await graph.Completion.WaitAsync(Patience);
        await derived.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_StreamGraph_must_end_when_the_buffer_is_completed_before_any_batch()
    {
        var rig = new Rig();
        var graph = TestStreams.Start(rig.Buffer, rig.Runner, rig.Raw, transformsCapacity: 1_000);
        await Task.Delay(200);

        rig.Buffer.Complete();

        await graph.Completion.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_StreamGraph_must_end_and_complete_the_derived_queue_when_its_actor_system_ends_under_it()
    {
        var rig = new Rig();
        using var system = Akka.Actor.ActorSystem.Create("stream-graph-spec", "akka.stdout-loglevel = OFF\nakka.loglevel = OFF");
        var graph = StreamGraph.Run(rig.Buffer, rig.Runner, TestStreams.Into(rig.Raw), new StageStats("buffer", "buffer"), transformsCapacity: 1_000,
            Akka.Streams.ActorMaterializer.Create(system), CancellationToken.None, system.WhenTerminated);
        await rig.WriteAsync(1);
        Assert.Equal(1, await rig.DeliverRawAsync(1));

        await system.Terminate();

        // Its stages are gone and will never complete their tasks; the graph ends all the same, so a stop does not hang.
        await graph.Completion.WaitAsync(Patience);
        // The derived queue is completed, so that its sink ends too: what it holds still comes out, then the end.
        var derived = 0;
        while (await rig.Derived.ReadAsync().AsTask().WaitAsync(Patience) is not null) derived++;
        Assert.Equal(1, derived);
    }

    [Fact]
    public async Task A_StreamGraph_must_deliver_raw_batches_while_the_derived_sink_stands_still()
    {
        var rig = new Rig();
        var graph = TestStreams.Start(rig.Buffer, rig.Runner, rig.Raw, transformsCapacity: 1_000);
        await rig.WriteAsync(Batches);

        Assert.Equal(Batches, await rig.DeliverRawAsync(Batches));
        // The transforms are stuck on the full derived queue (the second window), the rest held for them within budget.
        await WaitForAsync(() => rig.Runner.Branches[0].Held >= (Batches - 2) * PointsEach);
        Assert.Equal(2, rig.Windows.Seen);
        Assert.InRange(rig.Runner.Branches[0].Held, (Batches - 2) * PointsEach, 1_000);

        // The derived sink comes back: every batch reaches the transforms, and the graph ends once drained.
        rig.Buffer.Complete();
        var windows = 0;
        while (await rig.Derived.ReadAsync() is { } w)
        {
            windows++;
            w.Release();
        }
        await graph.Completion.WaitAsync(Patience);
        Assert.Equal(Batches, windows);
        Assert.Equal(Batches, rig.Windows.Seen);
        Assert.Equal(0, rig.Runner.Branches[0].Held);
    }

    [Fact]
    public async Task A_StreamGraph_must_hold_raw_delivery_back_once_the_transforms_are_their_capacity_behind()
    {
        var rig = new Rig();
        // Two batches' worth: the transforms branch fills after a few, and then the broadcast waits for it.
        var graph = TestStreams.Start(rig.Buffer, rig.Runner, rig.Raw, transformsCapacity: 2 * PointsEach);
        await rig.WriteAsync(Batches);

        // Raw delivery goes as far as the transforms' budget lets it (the batches held for the stuck transform, and the
        // few the stages in between have taken), and stops there. Without the bound all 50 arrive in milliseconds; the
        // read waits 5 s for them, so a slow machine cannot turn a missing bound into a pass.
        var delivered = await rig.DeliverRawAsync(Batches, TimeSpan.FromSeconds(5));
        Assert.InRange(delivered, 2, 10);
        Assert.True(rig.Runner.Branches[0].Held <= 2 * PointsEach, $"held {rig.Runner.Branches[0].Held} points over a budget of {2 * PointsEach}");

        rig.Buffer.Complete();
        var reading = Task.Run(async () =>
        {
            while (await rig.Derived.ReadAsync() is { } w) w.Release();
        });
        Assert.Equal(Batches - delivered, await rig.DeliverRawAsync(Batches - delivered));
        await graph.Completion.WaitAsync(Patience);
        await reading.WaitAsync(Patience);
        Assert.Equal(Batches, rig.Windows.Seen);
    }

    [Fact]
    public async Task A_StreamGraph_must_drop_and_count_the_oldest_batches_of_a_stuck_drop_oldest_branch_and_keep_the_others_going()
    {
        var stuck = new Gated();
        var stats = new StageStats("live", "transform");
        var rig = new Rig(new TransformBranch(stuck, FullPolicy.DropOldest, stats));
        // Two batches' worth, as in the test above where a backpressuring branch held raw delivery back at once.
        var graph = TestStreams.Start(rig.Buffer, rig.Runner, rig.Raw, transformsCapacity: 2 * PointsEach);
        var reading = Task.Run(async () =>
        {
            var n = 0;
            while (await rig.Derived.ReadAsync() is { } w)
            {
                n++;
                w.Release();
            }
            return n;
        });
        await rig.WriteAsync(Batches);

        // Raw delivery and the windows take every batch while the stuck branch holds at most its budget.
        Assert.Equal(Batches, await rig.DeliverRawAsync(Batches));
        await WaitForAsync(() => rig.Runner.Branches[0].Taken == Batches * PointsEach);
        var branch = rig.Runner.Branches[1];
        Assert.True(branch.Held <= 2 * PointsEach, $"the stuck branch holds {branch.Held} points over a budget of {2 * PointsEach}");
        Assert.True(stats.Dropped.GetValueOrDefault("evicted") > 0, $"no eviction counted: [{string.Join(", ", stats.Dropped)}]");

        // Let through: what it held is taken, and every point was either taken or counted as dropped.
        stuck.Open.Set();
        rig.Buffer.Complete();
        await graph.Completion.WaitAsync(Patience);
        Assert.Equal(Batches, await reading.WaitAsync(Patience));
        Assert.Equal(0, branch.Held);
        Assert.Equal(Batches * PointsEach, stuck.Points + stats.Dropped.Values.Sum());
        Assert.Equal(Batches * PointsEach, branch.Taken + stats.Dropped.Values.Sum());
    }
}
