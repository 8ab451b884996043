using System.Collections.Concurrent;

namespace Ingest.Graph;

/// <summary>
/// The counters every stage has, kept by the runner around it (not by the stage): points received, sent on,
/// dropped by reason, set aside in the dead letter by reason (the InfluxDB sinks), errors by type, and its queue.
/// Once a stage is idle, received = sent + dropped + dead-lettered (over every reason).
/// </summary>
public sealed class StageStats(string name, string kind)
{
    private long _received;
    private long _sent;

    public string Name { get; } = name;

    /// <summary><c>source</c>, <c>buffer</c>, <c>transform</c> or <c>sink</c>.</summary>
    public string Kind { get; } = kind;

    public long Received => Interlocked.Read(ref _received);
    public long Sent => Interlocked.Read(ref _sent);
    public ConcurrentDictionary<string, long> Dropped { get; } = new();

    /// <summary>
    /// Points an InfluxDB sink set aside in the dead letter because InfluxDB would not store them, by the same
    /// reason as <c>ingest_sink_points_dead_lettered_total</c>; not lost (they can be replayed), so not dropped.
    /// </summary>
    public ConcurrentDictionary<string, long> DeadLettered { get; } = new();
    public ConcurrentDictionary<string, long> Errors { get; } = new();

    /// <summary>Points waiting in front of the stage, when it has a queue.</summary>
    public Func<long>? QueueDepth { get; init; }
    public long? QueueCapacity { get; init; }

    public void AddReceived(long points) => Interlocked.Add(ref _received, points);
    public void AddSent(long points) => Interlocked.Add(ref _sent, points);
    public void AddDropped(string reason, long points) => Add(Dropped, reason, points);
    public void AddDeadLettered(string reason, long points) => Add(DeadLettered, reason, points);
    public void AddError(string type) => Add(Errors, type, 1);

    // Static delegates with the amount as their argument: no closure allocated per call.
    private static void Add(ConcurrentDictionary<string, long> counts, string key, long amount) =>
        counts.AddOrUpdate(key, static (_, a) => a, static (_, v, a) => v + a, amount);
}
