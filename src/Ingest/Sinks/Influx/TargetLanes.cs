namespace Ingest.Sinks.Influx;

/// <summary>
/// One lane per target (database and retention policy, or bucket): its writes in order and how it is faring.
/// A lane that fails keeps to one write at a time, so that it slows only itself; <see cref="TargetLanes"/>
/// starts its writes, <see cref="WriteDelivery"/> reports how their attempts went.
/// </summary>
public sealed class TargetLane(InfluxTarget target)
{
    internal readonly Queue<InfluxWrite> Waiting = new();
    internal int InFlight;

    /// <summary>One attempt at a time while failing: a target that hangs must not hold every connection.</summary>
    internal readonly SemaphoreSlim Probe = new(1, 1);

    public InfluxTarget Target { get; } = target;

    /// <summary>Stopwatch timestamp of the first failed attempt since the lane last delivered; 0 while it is healthy.</summary>
    public long FailingSince { get; internal set; }

    public bool Failing => FailingSince != 0;

    /// <summary>The last failed attempt's error, kept after recovery for the status page.</summary>
    public string? LastError { get; internal set; }

    /// <summary>Failed attempts since the lane last delivered.</summary>
    public long FailedAttempts { get; internal set; }

    /// <summary>Points of writes waiting for the lane (not yet started).</summary>
    internal long WaitingPoints;
}

/// <summary>
/// Schedules an InfluxDB sink's writes per target. Each lane starts up to <c>laneLimit</c> writes at once
/// (one for an ordered sink, whose writes to a target must land in order), and only one while it is failing;
/// the attempts themselves share the sink's connection slots (see <see cref="WriteDelivery"/>). So a target whose
/// writes keep failing holds at most one write in progress and slows only itself, and writes for every other
/// target go on.
/// </summary>
/// <remarks>
/// Thread-safe: lanes are changed under one lock, writes run outside it.
/// </remarks>
public sealed class TargetLanes
{
    private readonly object _sync = new();
    private readonly Dictionary<InfluxTarget, TargetLane> _lanes = new();
    private readonly int _laneLimit;
    private readonly Func<TargetLane, InfluxWrite, Task> _deliver;
    private int _running;
    private TaskCompletionSource? _idle;

    /// <param name="laneLimit">Writes a healthy lane may have in progress at once.</param>
    /// <param name="deliver">Delivers one write to a final outcome; it must not throw but for cancellation.</param>
    public TargetLanes(int laneLimit, Func<TargetLane, InfluxWrite, Task> deliver)
    {
        _laneLimit = laneLimit;
        _deliver = deliver;
    }

    public void Enqueue(InfluxWrite write)
    {
        lock (_sync)
        {
            if (!_lanes.TryGetValue(write.Target, out var lane)) _lanes[write.Target] = lane = new TargetLane(write.Target);
            lane.Waiting.Enqueue(write);
            lane.WaitingPoints += write.Points;
            StartReady(lane);
        }
    }

    /// <summary>A write of <paramref name="lane"/> failed an attempt: until one delivers, the lane keeps to one write.</summary>
    internal void Failed(TargetLane lane, string error)
    {
        lock (_sync)
        {
            if (lane.FailingSince == 0) lane.FailingSince = System.Diagnostics.Stopwatch.GetTimestamp();
            lane.FailedAttempts++;
            lane.LastError = error;
        }
    }

    /// <summary>A write of <paramref name="lane"/> was delivered: the lane may run at full width again.</summary>
    internal void Delivered(TargetLane lane)
    {
        lock (_sync)
        {
            if (lane.FailingSince == 0) return;
            lane.FailingSince = 0;
            lane.FailedAttempts = 0;
            StartReady(lane);
        }
    }

    /// <summary>Completes once no write is waiting or in progress.</summary>
    public Task DrainAsync()
    {
        lock (_sync)
        {
            if (_running == 0 && _lanes.Values.All(l => l.Waiting.Count == 0)) return Task.CompletedTask;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    /// <summary>A copy of every lane's state, for status reports.</summary>
    public IReadOnlyList<LaneStatus> Snapshot()
    {
        lock (_sync)
        {
            return _lanes.Values.Select(l => new LaneStatus(
                l.Target.Database, l.Target.RetentionPolicy, l.Failing ? "failing" : "ok", l.InFlight, l.Waiting.Count, l.WaitingPoints,
                l.Failing ? System.Diagnostics.Stopwatch.GetElapsedTime(l.FailingSince).TotalSeconds : null, l.FailedAttempts, l.LastError)).ToList();
        }
    }

    private int Limit(TargetLane lane) => lane.Failing ? 1 : _laneLimit;

    private void StartReady(TargetLane lane)
    {
        while (lane.Waiting.Count > 0 && lane.InFlight < Limit(lane))
        {
            var write = lane.Waiting.Dequeue();
            lane.WaitingPoints -= write.Points;
            lane.InFlight++;
            _running++;
            _ = RunAsync(lane, write);
        }
    }

    private async Task RunAsync(TargetLane lane, InfluxWrite write)
    {
        // Never run a delivery under the lock that started it.
        await Task.Yield();
        try
        {
            await _deliver(lane, write).ConfigureAwait(false);
        }
        finally
        {
            TaskCompletionSource? idle = null;
            lock (_sync)
            {
                lane.InFlight--;
                _running--;
                StartReady(lane);
                if (_running == 0 && _idle is not null && _lanes.Values.All(l => l.Waiting.Count == 0))
                {
                    idle = _idle;
                    _idle = null;
                }
            }
            idle?.TrySetResult();
        }
    }
}

/// <summary>How one target of a sink is faring, as <c>/api/status</c> shows it.</summary>
public sealed record LaneStatus(
    string Database, string RetentionPolicy, string State, int InFlight, int WaitingWrites, long WaitingPoints,
    double? FailingSeconds, long FailedAttempts, string? LastError);
