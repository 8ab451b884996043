using System.Diagnostics;
using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sinks.DeadLetter;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Delivers batches to InfluxDB: groups them per target into writes of up to <c>Influx:BatchSize</c> points,
/// sends a write when it is full or <c>Influx:FlushInterval</c> old, and hands it to the target's lane
/// (<see cref="TargetLanes"/>), which <see cref="WriteDelivery"/> takes to a final outcome. Points are finished
/// (released) only when InfluxDB has stored them or they are set aside in the dead letter.
/// </summary>
/// <remarks>
/// One loop (<see cref="RunAsync"/>) owns the open writes; deliveries run concurrently and touch only their own
/// write. The loop stops taking batches while it holds <c>maxHeld</c> points; a sink reading the buffer needs
/// no such bound (the buffer's capacity counts its points until they are finished), a sink reading a stage
/// queue is given the queue's capacity, so that its full-policy applies while InfluxDB is away.
/// </remarks>
public sealed class InfluxSink
{
    /// <summary>The raw points' sink, by its stage name (also its key among the services).</summary>
    public const string RawName = "influx";

    private readonly Func<CancellationToken, ValueTask<PointBatch?>> _read;
    private readonly Action<PointBatch> _finished;
    private readonly InfluxClient _client;
    private readonly InfluxSinkTelemetry _telemetry;
    private readonly Dictionary<InfluxTarget, OpenWrite> _open = new();
    private readonly long _maxHeld;
    private readonly TargetLanes _lanes;
    private readonly WriteDelivery _delivery;
    private CancellationToken _abort;
    private TaskCompletionSource? _room;

    /// <summary>A sink that reads the buffer directly and releases points from it once they are finished.</summary>
    public InfluxSink(IPointBuffer buffer, InfluxClient client, InfluxSinkTelemetry telemetry, DeadLetterStore? deadLetters = null,
        DeadLetterOptions? deadLetterOptions = null, TimeProvider? time = null)
        : this(BufferReader(buffer), b => { buffer.Release(b.Count); b.Release(); }, client, telemetry, deadLetters, deadLetterOptions,
            "influx", long.MaxValue, ordered: false, time)
    {
    }

    /// <param name="read">The next batch to deliver, or null when the input has ended.</param>
    /// <param name="finished">Called once per batch when every point of it is stored or set aside; it owns the batch then.</param>
    /// <param name="name">The sink's name, written into its dead-letter blocks.</param>
    /// <param name="maxHeld">Points the sink may hold (open, waiting or being sent) before it stops reading.</param>
    /// <param name="ordered">Writes to one target land in the order they were made: one at a time per target.</param>
    public InfluxSink(Func<CancellationToken, ValueTask<PointBatch?>> read, Action<PointBatch> finished,
        InfluxClient client, InfluxSinkTelemetry telemetry, DeadLetterStore? deadLetters, DeadLetterOptions? deadLetterOptions,
        string name, long maxHeld, bool ordered, TimeProvider? time = null)
    {
        _read = read;
        _finished = finished;
        _client = client;
        _telemetry = telemetry;
        _maxHeld = maxHeld;
        _lanes = new TargetLanes(ordered ? 1 : client.Options.MaxConcurrentRequests, DeliverAsync);
        _delivery = new WriteDelivery(client, telemetry, deadLetters, deadLetterOptions ?? new DeadLetterOptions(), _lanes, name, time);
    }

    /// <summary>Points taken and not yet finished (open, waiting for their lane or being sent).</summary>
    public long Pending => Interlocked.Read(ref _pending);
    private long _pending;

    /// <summary>How each target is faring (for <c>/api/status</c>).</summary>
    public IReadOnlyList<LaneStatus> Targets => _lanes.Snapshot();

    /// <summary>
    /// Runs until the input is completed and drained, or <paramref name="stopping"/> fires. Writes in progress are
    /// cancelled only by <paramref name="abort"/>, so that a graceful stop still delivers them.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping, CancellationToken abort)
    {
        _abort = abort;
        var interval = _client.Options.FlushInterval;
        Task<PointBatch?>? next = null;
        try
        {
            while (true)
            {
                if (Pending >= _maxHeld) await WaitForRoomAsync(stopping).ConfigureAwait(false);
                next ??= _read(stopping).AsTask();
                var due = NextDue(interval);
                if (due is { } wait && wait > TimeSpan.Zero)
                    await Task.WhenAny(next, Task.Delay(wait, stopping)).ConfigureAwait(false);
                else if (due is null)
                    await next.ConfigureAwait(false);

                if (next.IsCompleted)
                {
                    if (await next.ConfigureAwait(false) is not { } batch) break;
                    next = null;
                    Add(batch);
                }
                FlushDue(interval);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }

        DispatchAll();
        await _lanes.DrainAsync().ConfigureAwait(false);
    }

    /// <summary>Sends every open write and waits until the points held drop below the bound.</summary>
    private async Task WaitForRoomAsync(CancellationToken stopping)
    {
        // Open writes are part of what is held; left unsent they would never make room.
        DispatchAll();
        while (Pending >= _maxHeld)
        {
            var room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _room, room);
            if (Pending < _maxHeld) break;
            await room.Task.WaitAsync(stopping).ConfigureAwait(false);
        }
    }

    private TimeSpan? NextDue(TimeSpan interval)
    {
        if (_open.Count == 0) return null;
        var oldest = long.MaxValue;
        foreach (var w in _open.Values) oldest = Math.Min(oldest, w.Opened);
        return interval - Stopwatch.GetElapsedTime(oldest);
    }

    private void FlushDue(TimeSpan interval)
    {
        if (_open.Count == 0) return;
        List<InfluxTarget>? due = null;
        foreach (var (target, write) in _open)
            if (Stopwatch.GetElapsedTime(write.Opened) >= interval) (due ??= new()).Add(target);
        if (due is null) return;
        foreach (var target in due) Dispatch(target);
    }

    private void Add(PointBatch batch)
    {
        if (batch.Count == 0)
        {
            _finished(batch);
            return;
        }
        Interlocked.Add(ref _pending, batch.Count);
        var target = new InfluxTarget(batch.Database.Length > 0 ? batch.Database : _client.Options.DefaultTarget, batch.RetentionPolicy);
        var pending = new PendingBatch(batch);
        var size = _client.Options.BatchSize;
        var start = 0;
        while (start < batch.Count)
        {
            if (!_open.TryGetValue(target, out var open))
                _open[target] = open = new OpenWrite(Stopwatch.GetTimestamp());
            var take = Math.Min(size - open.Points, batch.Count - start);
            open.Segments.Add(new Segment(pending, start, start + take));
            open.Points += take;
            start += take;
            if (open.Points >= size) Dispatch(target);
        }
    }

    private void DispatchAll()
    {
        foreach (var target in _open.Keys.ToList()) Dispatch(target);
    }

    private void Dispatch(InfluxTarget target)
    {
        if (!_open.Remove(target, out var open) || open.Points == 0) return;
        _lanes.Enqueue(new InfluxWrite(target, open.Segments));
    }

    private async Task DeliverAsync(TargetLane lane, InfluxWrite write)
    {
        try
        {
            await _delivery.DeliverAsync(lane, write, _abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            _telemetry.LostAtShutdown(write.Points);
            return;
        }
        Finish(write);
    }

    private void Finish(InfluxWrite write)
    {
        foreach (var segment in write.Segments)
        {
            Interlocked.Add(ref _pending, -segment.Points);
            if (segment.Batch.Complete(segment.Points)) _finished(segment.Batch.Batch);
        }
        Volatile.Read(ref _room)?.TrySetResult();
    }

    private static Func<CancellationToken, ValueTask<PointBatch?>> BufferReader(IPointBuffer buffer)
    {
        IAsyncEnumerator<PointBatch>? e = null;
        return async ct =>
        {
            e ??= buffer.ReadAllAsync(ct).GetAsyncEnumerator(ct);
            return await e.MoveNextAsync().ConfigureAwait(false) ? e.Current : null;
        };
    }

    private sealed class OpenWrite(long opened)
    {
        public long Opened { get; } = opened;
        public List<Segment> Segments { get; } = new();
        public int Points { get; set; }
    }
}
