using System.Diagnostics;
using Ingest.Buffering;
using Ingest.LineProtocol;
using Polly;
using Polly.Retry;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Delivers buffered raw points to InfluxDB: groups them per target into writes of up to
/// <c>Influx:BatchSize</c> points, sends a write when it is full or <c>Influx:FlushInterval</c> old, keeps at
/// most <c>Influx:MaxConcurrentRequests</c> in flight, and retries failures with backoff until they succeed.
/// Points leave the buffer only when InfluxDB has stored them or refused them for good.
/// </summary>
/// <remarks>
/// One loop (<see cref="RunAsync"/>) owns the open writes; sends run concurrently and touch only their own write.
/// </remarks>
public sealed class InfluxSink
{
    private readonly Func<CancellationToken, ValueTask<PointBatch?>> _read;
    private readonly Action<PointBatch> _finished;
    private readonly InfluxClient _client;
    private readonly InfluxSinkTelemetry _telemetry;
    private readonly ResiliencePipeline<WriteResult> _retry;
    private readonly SemaphoreSlim _slots;
    private readonly Dictionary<InfluxTarget, OpenWrite> _open = new();
    private readonly HashSet<Task> _inflight = new();
    private readonly object _inflightLock = new();

    /// <summary>A sink that reads the buffer directly and releases points from it once they are finished.</summary>
    public InfluxSink(IPointBuffer buffer, InfluxClient client, InfluxSinkTelemetry telemetry, TimeProvider? time = null)
        : this(BufferReader(buffer), b => { buffer.Release(b.Count); b.Release(); }, client, telemetry, time)
    {
    }

    /// <param name="read">The next batch to deliver, or null when the input has ended.</param>
    /// <param name="finished">Called once per batch when every point of it is delivered or refused for good; it owns the batch then.</param>
    public InfluxSink(Func<CancellationToken, ValueTask<PointBatch?>> read, Action<PointBatch> finished,
        InfluxClient client, InfluxSinkTelemetry telemetry, TimeProvider? time = null)
    {
        _read = read;
        _finished = finished;
        _client = client;
        _telemetry = telemetry;
        _slots = new SemaphoreSlim(client.Options.MaxConcurrentRequests);
        var o = client.Options;
        _retry = new ResiliencePipelineBuilder<WriteResult> { TimeProvider = time ?? TimeProvider.System }
            .AddRetry(new RetryStrategyOptions<WriteResult>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result.Status == WriteStatus.Retryable),
                // Acknowledged points are never given up on; the buffer filling up (and 503s to clients) is the
                // back-pressure, and every retry is counted and logged.
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = o.RetryInitialDelay,
                MaxDelay = o.RetryMaxDelay,
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result.RetryAfter is { } after ? (TimeSpan?)TimeSpan.FromTicks(Math.Min(after.Ticks, o.RetryMaxDelay.Ticks)) : null),
                OnRetry = args =>
                {
                    _telemetry.Retrying(args.Outcome.Result, args.AttemptNumber, args.RetryDelay);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>Points taken from the buffer and not yet finished (open or in flight).</summary>
    public long Pending => Interlocked.Read(ref _pending);
    private long _pending;

    /// <summary>
    /// Runs until the buffer is completed and drained, or <paramref name="stopping"/> fires. Writes in flight are
    /// cancelled only by <paramref name="abort"/>, so that a graceful stop still delivers them.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping, CancellationToken abort)
    {
        var interval = _client.Options.FlushInterval;
        Task<PointBatch?>? next = null;
        try
        {
            while (true)
            {
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
                    await AddAsync(batch, abort).ConfigureAwait(false);
                }
                await FlushDueAsync(interval, abort).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }

        foreach (var target in _open.Keys.ToList()) await DispatchAsync(target, abort).ConfigureAwait(false);
        Task[] running;
        lock (_inflightLock) running = _inflight.ToArray();
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private TimeSpan? NextDue(TimeSpan interval)
    {
        if (_open.Count == 0) return null;
        var oldest = _open.Values.Min(w => w.Opened);
        return interval - Stopwatch.GetElapsedTime(oldest);
    }

    private async Task FlushDueAsync(TimeSpan interval, CancellationToken abort)
    {
        if (_open.Count == 0) return;
        foreach (var (target, write) in _open.ToList())
            if (Stopwatch.GetElapsedTime(write.Opened) >= interval) await DispatchAsync(target, abort).ConfigureAwait(false);
    }

    private async Task AddAsync(PointBatch batch, CancellationToken abort)
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
            if (open.Points >= size) await DispatchAsync(target, abort).ConfigureAwait(false);
        }
    }

    private async Task DispatchAsync(InfluxTarget target, CancellationToken abort)
    {
        if (!_open.Remove(target, out var open) || open.Points == 0) return;
        // Waiting for a slot here is the sink's back-pressure: the loop stops taking from the buffer.
        await _slots.WaitAsync(abort).ConfigureAwait(false);
        var task = SendAsync(new InfluxWrite(target, open.Segments), abort);
        lock (_inflightLock) _inflight.Add(task);
        _ = task.ContinueWith(t =>
        {
            lock (_inflightLock) _inflight.Remove(t);
            _slots.Release();
        }, TaskScheduler.Default);
    }

    private async Task SendAsync(InfluxWrite write, CancellationToken abort)
    {
        await Task.Yield();
        try
        {
            await DeliverAsync(write, abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            _telemetry.LostAtShutdown(write.Points);
        }
    }

    /// <summary>Sends one write until it reaches a final outcome; then finishes its points.</summary>
    internal async Task DeliverAsync(InfluxWrite write, CancellationToken abort)
    {
        var createdDatabase = false;
        while (true)
        {
            var result = await _retry.ExecuteAsync(async ct =>
            {
                var started = Stopwatch.GetTimestamp();
                var r = await _client.WriteAsync(write, ct).ConfigureAwait(false);
                _telemetry.Attempt(Stopwatch.GetElapsedTime(started));
                return r;
            }, abort).ConfigureAwait(false);

            var points = write.Points;
            switch (result.Status)
            {
                case WriteStatus.Delivered:
                    _telemetry.Delivered(points);
                    Finish(write);
                    return;
                case WriteStatus.PartiallyRejected:
                    _telemetry.PartiallyRejected(points, result.Dropped ?? points, result);
                    Finish(write);
                    return;
                case WriteStatus.TooLarge when write.Split() is var (first, second):
                    await DeliverAsync(first, abort).ConfigureAwait(false);
                    await DeliverAsync(second, abort).ConfigureAwait(false);
                    return;
                case WriteStatus.TooLarge:
                    _telemetry.Rejected(points, "too_large", result);
                    Finish(write);
                    return;
                case WriteStatus.DatabaseNotFound when _client.Options.CreateDatabase && !createdDatabase:
                    await _retry.ExecuteAsync(ct => new ValueTask<WriteResult>(_client.CreateDatabaseAsync(write.Target.Database, ct)), abort).ConfigureAwait(false);
                    _telemetry.DatabaseCreated(write.Target.Database);
                    createdDatabase = true;
                    continue;
                case WriteStatus.DatabaseNotFound:
                    _telemetry.Rejected(points, "database_not_found", result);
                    Finish(write);
                    return;
                default:
                    _telemetry.Rejected(points, "rejected", result);
                    Finish(write);
                    return;
            }
        }
    }

    private void Finish(InfluxWrite write)
    {
        foreach (var segment in write.Segments)
        {
            Interlocked.Add(ref _pending, -segment.Points);
            if (segment.Batch.Complete(segment.Points)) _finished(segment.Batch.Batch);
        }
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
