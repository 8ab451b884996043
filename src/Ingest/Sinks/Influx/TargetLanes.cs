namespace Ingest.Sinks.Influx;

/// <summary>
/// One target (database and retention policy, or bucket) of a sink: how its writes are faring. Its writes run in
/// the target's own substream of the sink (see <see cref="InfluxSink"/>); <see cref="WriteDelivery"/> reports how
/// their attempts went.
/// </summary>
public sealed class TargetLane(InfluxTarget target)
{
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

    /// <summary>Writes being delivered (attempted, or waiting for a retry or for the lane's probe).</summary>
    internal int InFlight;

    /// <summary>Writes holding a delivery slot but not started, because the lane is failing; in the order they were made.</summary>
    internal readonly Queue<(InfluxWrite Write, TaskCompletionSource Turn)> Held = new();

    /// <summary>Writes made and waiting for one of the target's delivery slots.</summary>
    internal int Waiting;

    /// <summary>Points of the writes waiting.</summary>
    internal long WaitingPoints;
}

/// <summary>
/// The targets of one InfluxDB sink and how each is faring, for <c>/api/status</c>. A failing target starts one
/// write at a time and <see cref="WriteDelivery"/> lets it one attempt at a time (its probe), so that a target whose
/// writes keep failing slows only itself and nothing of it overtakes the write being retried.
/// </summary>
/// <remarks>Thread-safe: every change is made under one lock; the sink's stages and its deliveries both report here.</remarks>
public sealed class TargetLanes
{
    private readonly object _sync = new();
    private readonly Dictionary<InfluxTarget, TargetLane> _lanes = new();

    /// <summary>The lane of <paramref name="target"/>, made on first use.</summary>
    public TargetLane Lane(InfluxTarget target)
    {
        lock (_sync)
        {
            if (!_lanes.TryGetValue(target, out var lane)) _lanes[target] = lane = new TargetLane(target);
            return lane;
        }
    }

    /// <summary>A write for <paramref name="lane"/> is made and waits for a delivery slot.</summary>
    internal void Made(TargetLane lane, InfluxWrite write)
    {
        lock (_sync)
        {
            lane.Waiting++;
            lane.WaitingPoints += write.Points;
        }
    }

    /// <summary>
    /// A waiting write of <paramref name="lane"/> has a delivery slot; the task completes when it may start. A
    /// healthy lane starts it at once. A failing lane starts one write at a time, in the order they were made, so
    /// that nothing of a failing target overtakes the write being retried.
    /// </summary>
    internal Task StartAsync(TargetLane lane, InfluxWrite write)
    {
        lock (_sync)
        {
            if (!lane.Failing || lane.InFlight == 0)
            {
                Start(lane, write);
                return Task.CompletedTask;
            }
            var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lane.Held.Enqueue((write, turn));
            return turn.Task;
        }
    }

    /// <summary>A write of <paramref name="lane"/> reached its outcome, or was given up at the stop.</summary>
    internal void Ended(TargetLane lane)
    {
        lock (_sync)
        {
            lane.InFlight--;
            StartHeld(lane);
        }
    }

    private static void Start(TargetLane lane, InfluxWrite write)
    {
        lane.Waiting--;
        lane.WaitingPoints -= write.Points;
        lane.InFlight++;
    }

    private static void StartHeld(TargetLane lane)
    {
        while (lane.Held.Count > 0 && (!lane.Failing || lane.InFlight == 0))
        {
            var (write, turn) = lane.Held.Dequeue();
            Start(lane, write);
            turn.TrySetResult();
        }
    }

    /// <summary>A write of <paramref name="lane"/> failed an attempt: until one delivers, the lane keeps to one attempt at a time.</summary>
    internal void Failed(TargetLane lane, string error)
    {
        lock (_sync)
        {
            if (lane.FailingSince == 0) lane.FailingSince = System.Diagnostics.Stopwatch.GetTimestamp();
            lane.FailedAttempts++;
            lane.LastError = error;
        }
    }

    /// <summary>A write of <paramref name="lane"/> was delivered: the lane is healthy again, and starts what it held back.</summary>
    internal void Delivered(TargetLane lane)
    {
        lock (_sync)
        {
            if (lane.FailingSince == 0) return;
            lane.FailingSince = 0;
            lane.FailedAttempts = 0;
            StartHeld(lane);
        }
    }

    /// <summary>A copy of every lane's state, for status reports.</summary>
    public IReadOnlyList<LaneStatus> Snapshot()
    {
        lock (_sync)
        {
            return _lanes.Values.Select(l => new LaneStatus(
                l.Target.Database, l.Target.RetentionPolicy, l.Failing ? "failing" : "ok", l.InFlight, l.Waiting, l.WaitingPoints,
                l.Failing ? System.Diagnostics.Stopwatch.GetElapsedTime(l.FailingSince).TotalSeconds : null, l.FailedAttempts, l.LastError)).ToList();
        }
    }
}

/// <summary>How one target of a sink is faring, as <c>/api/status</c> shows it.</summary>
public sealed record LaneStatus(
    string Database, string RetentionPolicy, string State, int InFlight, int WaitingWrites, long WaitingPoints,
    double? FailingSeconds, long FailedAttempts, string? LastError);
