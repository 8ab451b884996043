using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Sinks.DeadLetter;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Delivers batches to InfluxDB, as an Akka.Streams sink:
/// <code>
///   weighted buffer (points held until delivered) → group by target ─┬→ cut → group by points and age → writes waiting → deliver (bounded concurrency)
///                                                                   └→ (one substream per target)
/// </code>
/// Each target's points are cut into writes of exactly <c>Influx:BatchSize</c> points where the load allows
/// (a write is sent when full, or when <c>Influx:FlushInterval</c> has passed without a full one), and
/// <see cref="WriteDelivery"/> takes each write to a final outcome with its retries, 413 splits and dead letter.
/// Points are finished (the <c>finished</c> callback) only when InfluxDB has stored them or they are set aside.
/// </summary>
/// <remarks>
/// <para>
/// Concurrency: the stages run on the graph's actor; each write's delivery runs off it, up to
/// <c>Influx:MaxConcurrentRequests</c> per target (one for an ordered sink, whose writes to a target must land in
/// the order they were made). A target whose writes keep failing holds its own delivery slots and its own queue of
/// waiting writes; the other targets' substreams go on, until the sink's budget of points is spent.
/// </para>
/// <para>
/// Budget: the sink holds at most <c>capacity</c> points (in its buffer, its writes being made, waiting and being
/// sent) and backpressures beyond that, so that a queue in front of it applies its own full-policy while InfluxDB
/// is away. The weight of a batch is given back when its points are finished, not when they leave the buffer.
/// </para>
/// <para>
/// Stop: when the input completes, every write is still delivered before the sink's task completes. At the stop's
/// deadline (<c>abort</c>) the writes in progress are cancelled and counted as lost at shutdown; their points stay
/// in the write-ahead log when there is one.
/// </para>
/// </remarks>
public sealed class InfluxSink : ISinkStage
{
    /// <summary>The raw points' sink, by its stage name (also its key among the services).</summary>
    public const string RawName = "influx";

    /// <summary>Writes a target may have made and waiting for a delivery slot before its substream backpressures.</summary>
    public const int WaitingWritesPerTarget = 1024;

    private readonly Action<PointBatch> _finished;
    private readonly Action<PointBatch>? _received;
    private readonly InfluxClient _client;
    private readonly InfluxSinkTelemetry _telemetry;
    private readonly long _capacity;
    private readonly int _laneLimit;
    private readonly TargetLanes _lanes = new();
    private readonly WriteDelivery _delivery;
    private IWeightedBufferControl? _budget;
    private int _running;
    private TaskCompletionSource? _idle;
    private int _created;

    /// <param name="finished">Called once per batch when every point of it is stored or set aside; it owns the batch then.</param>
    /// <param name="name">The sink's name, written into its dead-letter blocks.</param>
    /// <param name="capacity">Points the sink may hold (buffered, in writes being made, waiting or being sent) before it backpressures.</param>
    /// <param name="ordered">Writes to one target land in the order they were made: one at a time per target.</param>
    /// <param name="received">Called with each batch as the sink takes it (its stage's count).</param>
    public InfluxSink(InfluxClient client, InfluxSinkTelemetry telemetry, Action<PointBatch> finished, DeadLetterStore? deadLetters,
        DeadLetterOptions? deadLetterOptions, string name, long capacity, bool ordered, Action<PointBatch>? received = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _finished = finished;
        _received = received;
        _client = client;
        _telemetry = telemetry;
        _capacity = capacity;
        _laneLimit = ordered ? 1 : client.Options.MaxConcurrentRequests;
        Name = name;
        _delivery = new WriteDelivery(client, telemetry, deadLetters, deadLetterOptions ?? new DeadLetterOptions(), _lanes, name, time);
    }

    public string Name { get; }

    /// <summary>Points taken and not yet finished (buffered, in writes being made, waiting or being sent).</summary>
    public long Pending => Interlocked.Read(ref _pending);
    private long _pending;

    /// <summary>How each target is faring (for <c>/api/status</c>).</summary>
    public IReadOnlyList<LaneStatus> Targets => _lanes.Snapshot();

    /// <summary>
    /// The sink, to be materialized once. Its task completes once the input has completed and every write is
    /// delivered; after <paramref name="abort"/>, once the writes in progress have given up.
    /// </summary>
    public Sink<PointBatch, Task> Create(CancellationToken abort)
    {
        if (Interlocked.Exchange(ref _created, 1) != 0) throw new InvalidOperationException("the sink is already part of a graph");
        var size = _client.Options.BatchSize;
        var interval = _client.Options.FlushInterval;
        var perTarget = (Flow<PointBatch, NotUsed, IWeightedBufferControl>)Flow.Create<PointBatch>()
            .Where(Take)
            .ViaMaterialized(new WeightedBuffer<PointBatch>(_capacity, b => b.Count, FullPolicy.Backpressure, Abandoned), Keep.Right)
            .GroupBy(int.MaxValue, TargetOf)
            .StatefulSelectMany(() => Cutter(size))
            .GroupedWeightedWithin(size, int.MaxValue, interval, s => s.Points)
            .Select(Made)
            .Buffer(WaitingWritesPerTarget, OverflowStrategy.Backpressure)
            .SelectAsyncUnordered(_laneLimit, w => DeliverAsync(w, abort))
            .MergeSubstreams();
        return perTarget
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Both)
            .MapMaterializedValue(m =>
            {
                _budget = m.Item1;
                return EndAsync(m.Item2, abort);
            });
    }

    /// <summary>Runs the sink over <paramref name="source"/> (a queue's reader, for the derived and alert sinks).</summary>
    public Task RunAsync(Source<PointBatch, NotUsed> source, IMaterializer materializer, CancellationToken abort) =>
        source.RunWith(Create(abort), materializer);

    private bool Take(PointBatch batch)
    {
        _received?.Invoke(batch);
        if (batch.Count > 0)
        {
            Interlocked.Add(ref _pending, batch.Count);
            return true;
        }
        _finished(batch);
        return false;
    }

    /// <summary>A batch still in the buffer when the stream was cut: it stays in the log, undelivered.</summary>
    private void Abandoned(PointBatch batch, string reason)
    {
        Interlocked.Add(ref _pending, -batch.Count);
        batch.Release();
    }

    private InfluxTarget TargetOf(PointBatch batch) =>
        new(batch.Database.Length > 0 ? batch.Database : _client.Options.DefaultTarget, batch.RetentionPolicy);

    /// <summary>
    /// One target's cutter: splits each batch into segments so that, while writes fill up, each holds exactly
    /// <paramref name="size"/> points. A write sent early by the flush interval leaves the next one short once.
    /// </summary>
    private static Func<PointBatch, IEnumerable<Segment>> Cutter(int size)
    {
        var open = 0;
        return batch =>
        {
            var pending = new PendingBatch(batch);
            var segments = new List<Segment>(1 + batch.Count / size);
            var start = 0;
            while (start < batch.Count)
            {
                var take = Math.Min(size - open, batch.Count - start);
                segments.Add(new Segment(pending, start, start + take));
                start += take;
                open = (open + take) % size;
            }
            return segments;
        };
    }

    private (TargetLane Lane, InfluxWrite Write) Made(IEnumerable<Segment> group)
    {
        var segments = group as List<Segment> ?? group.ToList();
        var lane = _lanes.Lane(TargetOf(segments[0].Batch.Batch));
        var write = new InfluxWrite(lane.Target, segments);
        _lanes.Made(lane, write);
        return (lane, write);
    }

    private async Task<NotUsed> DeliverAsync((TargetLane Lane, InfluxWrite Write) made, CancellationToken abort)
    {
        var (lane, write) = made;
        Interlocked.Increment(ref _running);
        var started = false;
        try
        {
            await _lanes.StartAsync(lane, write).WaitAsync(abort).ConfigureAwait(false);
            started = true;
            // Off the graph's actor: building and sending the request body must not hold the other stages.
            await Task.Run(() => _delivery.DeliverAsync(lane, write, abort), CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            _telemetry.LostAtShutdown(write.Points);
            return NotUsed.Instance;
        }
        finally
        {
            if (started) _lanes.Ended(lane);
            if (Interlocked.Decrement(ref _running) == 0) Volatile.Read(ref _idle)?.TrySetResult();
        }
        Finish(write);
        return NotUsed.Instance;
    }

    private void Finish(InfluxWrite write)
    {
        foreach (var segment in write.Segments)
        {
            Interlocked.Add(ref _pending, -segment.Points);
            if (segment.Batch.Complete(segment.Points)) _finished(segment.Batch.Batch);
        }
        _budget?.Release(write.Points);
    }

    /// <summary>
    /// The sink's end. Drained, the stream completes only after its last delivery. Cut at the stop's deadline, the
    /// deliveries in progress end with the same cancellation; they are waited for, so that what they gave up is
    /// counted before the stop goes on. Failed otherwise, the failure is the sink's.
    /// </summary>
    private async Task EndAsync(Task stream, CancellationToken abort)
    {
        try
        {
            await stream.ConfigureAwait(false);
        }
        catch (Exception) when (abort.IsCancellationRequested)
        {
            var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _idle, idle);
            if (Volatile.Read(ref _running) > 0) await idle.Task.ConfigureAwait(false);
        }
    }
}
