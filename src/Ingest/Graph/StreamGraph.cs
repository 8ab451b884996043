using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Util;
using Ingest.Buffering;
using Ingest.LineProtocol;

namespace Ingest.Graph;

/// <summary>
/// The admitted batches as an Akka.Streams graph, materialized once at start:
/// <code>
///   buffer ─→ kill switch ─→ valve ─→ fan-out ─┬→ raw:        route (exclusions, replayed-for-windows) → influx (raw sink)
///                                             ├→ feed:       weighted buffer (drop oldest) → live feed
///                                             ├→ downsample: weighted buffer (backpressure) → windows → derived queue → influx_derived
///                                             └→ live:       weighted buffer (drop oldest) → live state (Redis)
/// </code>
/// Each branch takes its own reference to a batch. Every transform branch has a buffer of its own, bounded in points
/// (<c>Pipeline:TransformQueueCapacity</c>) and holding them until its transform has taken them, so raw delivery
/// does not wait on a transform (a backed-up derived sink, a slow live state). A branch that must see every point
/// (the windows) backpressures when its buffer is full, and only then holds raw delivery back, as a budget must; the
/// others drop their oldest batches and count them on their stage (<c>evicted</c>).
/// </summary>
/// <remarks>
/// Concurrency: each branch runs one batch at a time, in acceptance order; the branches run concurrently. They all
/// read a batch that the raw sink may be delivering at the same time; none writes to it.
/// Pause: <see cref="PauseAsync"/> closes the valve, so that no batch leaves the buffer (at most one, already taken
/// from it, waits in the valve); what the branches and sinks had taken goes on. <see cref="ResumeAsync"/> opens it.
/// Stop: completing the buffer drains the graph (open the valve first: a closed valve ends without what it holds);
/// <see cref="Abort"/> (the stop's deadline) cuts it, and what was left stays in the write-ahead log.
/// </remarks>
public sealed class StreamGraph
{
    private readonly UniqueKillSwitch _kill;
    private readonly Task<IValveSwitch> _valve;
    private readonly Task _done;

    private StreamGraph(UniqueKillSwitch kill, Task<IValveSwitch> valve, Task done)
    {
        _kill = kill;
        _valve = valve;
        _done = done;
    }

    /// <summary>Completes once every branch has ended (the raw sink has delivered what it took) and the derived queue is completed.</summary>
    public Task Completion => _done;

    /// <summary>Builds the graph over <paramref name="buffer"/> and runs it.</summary>
    /// <param name="rawSink">The raw branch's sink (<see cref="Ingest.Sinks.Influx.InfluxSink"/> in the daemon); its task completes once it has delivered what it took.</param>
    /// <param name="transformsCapacity">Points each transform branch's buffer holds.</param>
    /// <param name="abort">Gives up on a step waiting for room in a queue, at the stop's deadline.</param>
    /// <param name="systemTerminated">Completes if the actor system under the graph ends first; the graph then
    /// counts as cut, since its stages are gone.</param>
    public static StreamGraph Run(IPointBuffer buffer, TransformRunner runner, Sink<PointBatch, Task> rawSink, StageStats bufferStats, long transformsCapacity,
        IMaterializer materializer, CancellationToken abort, Task? systemTerminated = null)
    {
        var branches = runner.Branches;
        var ended = new List<Task>(branches.Count + 1);
        var source = Source.From(() => buffer.ReadAllAsync(CancellationToken.None))
            .Select(batch =>
            {
                bufferStats.AddSent(batch.Count);
                runner.FannedOut(batch);
                // One reference for each transform branch, which ends there; the raw branch's goes on to the raw sink.
                for (var i = 0; i < branches.Count; i++) batch.Retain();
                return batch;
            })
            .ViaMaterialized(KillSwitches.Single<PointBatch>(), Keep.Right)
            .ViaMaterialized(new Valve<PointBatch>(SwitchMode.Open), Keep.Both);
        foreach (var branch in branches)
            source = source.AlsoToMaterialized(TransformSink(branch, runner, transformsCapacity, ended, abort), Keep.Left);
        var raw = Flow.Create<PointBatch>()
            .Select(batch => runner.RouteRaw(batch) is { } kept ? Option<PointBatch>.Create(kept) : Option<PointBatch>.None)
            .Where(kept => kept.HasValue)
            .Select(kept => kept.Value)
            .ToMaterialized(rawSink, Keep.Right);

        var ((kill, valve), rawDone) = source.ToMaterialized(raw, Keep.Both).Run(materializer);
        ended.Add(rawDone);
        // Each transform branch added its end while the graph was materialized; one missing would let the graph
        // count as ended while that branch still runs.
        if (ended.Count != branches.Count + 1)
            throw new InvalidOperationException($"{ended.Count - 1} of {branches.Count} transform branches reported their end at materialization");

        return new StreamGraph(kill, valve, EndAsync(runner, Task.WhenAll(ended), systemTerminated ?? Task.Delay(Timeout.Infinite, abort), abort));
    }

    /// <summary>
    /// A transform's branch: its weighted buffer, then its step. The step gives back each batch's weight once taken,
    /// through the buffer's control, which exists only once the branch is materialized: the step waits for it (it
    /// is there before the first batch is).
    /// </summary>
    private static Sink<PointBatch, NotUsed> TransformSink(TransformBranch branch, TransformRunner runner, long capacity, List<Task> ended,
        CancellationToken abort)
    {
        var control = new TaskCompletionSource<IWeightedBufferControl>(TaskCreationOptions.RunContinuationsAsynchronously);
        return Flow.Create<PointBatch>()
            .ViaMaterialized(new WeightedBuffer<PointBatch>(capacity, b => b.Count, branch.Policy, (b, reason) =>
            {
                branch.Stats.AddDropped(reason, b.Count);
                b.Release();
            }), Keep.Right)
            .SelectAsync(1, async batch =>
            {
                try
                {
                    // Off the graph's thread: the stages are fused into one actor, which a transform busy with a
                    // big batch (or waiting on a lock) would otherwise hold, and every other branch with it.
                    await Task.Run(() => runner.TransformAsync(branch, batch, abort).AsTask(), CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    (await control.Task.ConfigureAwait(false)).Release(batch.Count);
                    batch.Release();
                }
                return NotUsed.Instance;
            })
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Both)
            .MapMaterializedValue(m =>
            {
                var (weighted, done) = m;
                control.TrySetResult(weighted);
                branch.Materialized(() => weighted.Held);
                ended.Add(done);
                return NotUsed.Instance;
            });
    }

    /// <summary>Holds every batch in the buffer (closes the valve); true when it was open.</summary>
    public async Task<bool> PauseAsync() => await (await _valve.ConfigureAwait(false)).Flip(SwitchMode.Close).ConfigureAwait(false);

    /// <summary>Lets batches leave the buffer again (opens the valve); true when it was closed.</summary>
    public async Task<bool> ResumeAsync() => await (await _valve.ConfigureAwait(false)).Flip(SwitchMode.Open).ConfigureAwait(false);

    /// <summary>
    /// Whether the valve is closed, as the graph's own stage answers: the answer comes after every event the
    /// graph had to handle before the question.
    /// </summary>
    public async Task<bool> IsPausedAsync() => await (await _valve.ConfigureAwait(false)).GetMode().ConfigureAwait(false) == SwitchMode.Close;

    /// <summary>Cuts the graph: batches not yet through it stay in the log, to be replayed at the next start.</summary>
    public void Abort() => _kill.Abort(new OperationCanceledException("the stop's deadline was reached"));

    private static async Task EndAsync(TransformRunner runner, Task branches, Task gone, CancellationToken abort)
    {
        var drained = await Task.WhenAny(branches, gone).ConfigureAwait(false) == branches;
        try
        {
            if (drained) await branches.ConfigureAwait(false);
        }
        catch (Exception) when (abort.IsCancellationRequested)
        {
            drained = false;
        }
        await runner.EndAsync(drained, abort).ConfigureAwait(false);
    }
}
