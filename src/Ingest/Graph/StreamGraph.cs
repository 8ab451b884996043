using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Ingest.Buffering;
using Ingest.LineProtocol;

namespace Ingest.Graph;

/// <summary>
/// The admitted batches as an Akka.Streams graph, materialized once at start:
/// <code>
///   buffer ─→ kill switch ─→ broadcast ─┬→ raw:        route (exclusions, replayed-for-windows) → raw queue → influx
///                                      └→ transforms: weighted buffer → feed, downsample, live → derived queue → influx_derived
/// </code>
/// Each branch takes its own reference to a batch. The transforms branch has a buffer of its own, bounded in points
/// (<c>Pipeline:TransformQueueCapacity</c>) and holding them until the transforms have taken them, so raw delivery
/// does not wait on the transforms (a backed-up derived sink, a slow live state) until that buffer is full; only
/// then does the broadcast hold raw delivery back, as a budget must.
/// </summary>
/// <remarks>
/// Concurrency: each branch runs one batch at a time, in acceptance order; the two branches run concurrently. The
/// transforms read a batch that the raw sink may be delivering at the same time; neither writes to it.
/// Stop: completing the buffer drains the graph; <see cref="Abort"/> (the stop's deadline) cuts it, and what was
/// left stays in the write-ahead log.
/// </remarks>
public sealed class StreamGraph
{
    private readonly UniqueKillSwitch _kill;
    private readonly Task _done;

    private StreamGraph(UniqueKillSwitch kill, Task done)
    {
        _kill = kill;
        _done = done;
    }

    /// <summary>Completes once both branches have ended and the queues behind them are completed.</summary>
    public Task Completion => _done;

    /// <summary>Points the transforms branch holds: taken from the buffer and not yet transformed.</summary>
    public Func<long> TransformsHeld { get; private init; } = () => 0;

    /// <summary>Builds the graph over <paramref name="buffer"/> and runs it.</summary>
    /// <param name="abort">Gives up on a step waiting for room in a queue, at the stop's deadline.</param>
    /// <param name="systemTerminated">Completes if the actor system under the graph ends first; the graph then
    /// counts as cut, since its stages are gone.</param>
    public static StreamGraph Run(IPointBuffer buffer, TransformRunner runner, StageStats bufferStats, long transformsCapacity,
        IMaterializer materializer, CancellationToken abort, Task? systemTerminated = null)
    {
        // The transforms' step gives back each batch's weight once taken, through the buffer's control, which exists
        // only once the graph is materialized: the step waits for it (it is there before the first batch is).
        var control = new TaskCompletionSource<IWeightedBufferControl>(TaskCreationOptions.RunContinuationsAsynchronously);
        var transforms = Flow.Create<PointBatch>()
            .ViaMaterialized(new WeightedBuffer<PointBatch>(transformsCapacity, b => b.Count, FullPolicy.Backpressure, (b, _) => b.Release()), Keep.Right)
            .SelectAsync(1, async batch =>
            {
                try
                {
                    await runner.TransformAsync(batch, abort).ConfigureAwait(false);
                }
                finally
                {
                    (await control.Task.ConfigureAwait(false)).Release(batch.Count);
                    batch.Release();
                }
                return NotUsed.Instance;
            })
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Both);
        var raw = Flow.Create<PointBatch>()
            .SelectAsync(1, async batch =>
            {
                await runner.RouteRawAsync(batch, abort).ConfigureAwait(false);
                return NotUsed.Instance;
            })
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Right);

        var ((kill, (weighted, transformsDone)), rawDone) = Source.From(() => buffer.ReadAllAsync(CancellationToken.None))
            .Select(batch =>
            {
                bufferStats.AddSent(batch.Count);
                // One reference for each branch: the raw branch's goes on to the raw sink, the transforms' ends there.
                return batch.Retain();
            })
            .ViaMaterialized(KillSwitches.Single<PointBatch>(), Keep.Right)
            .AlsoToMaterialized(transforms, Keep.Both)
            .ToMaterialized(raw, Keep.Both)
            .Run(materializer);
        control.SetResult(weighted);

        return new StreamGraph(kill, EndAsync(runner, rawDone, transformsDone, systemTerminated ?? Task.Delay(Timeout.Infinite, abort), abort))
        {
            TransformsHeld = () => weighted.Held,
        };
    }

    /// <summary>Cuts the graph: batches not yet through it stay in the log, to be replayed at the next start.</summary>
    public void Abort() => _kill.Abort(new OperationCanceledException("the stop's deadline was reached"));

    private static async Task EndAsync(TransformRunner runner, Task raw, Task transforms, Task gone, CancellationToken abort)
    {
        var branches = Task.WhenAll(raw, transforms);
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
