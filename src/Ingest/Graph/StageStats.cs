using System.Collections.Concurrent;

namespace Ingest.Graph;

/// <summary>
/// The counters every stage has, kept by the runner around it (not by the stage): points received, sent on,
/// dropped by reason, errors by type, and its queue.
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
    public ConcurrentDictionary<string, long> Errors { get; } = new();

    /// <summary>Points waiting in front of the stage, when it has a queue.</summary>
    public Func<long>? QueueDepth { get; init; }
    public long? QueueCapacity { get; init; }

    public void AddReceived(long points) => Interlocked.Add(ref _received, points);
    public void AddSent(long points) => Interlocked.Add(ref _sent, points);
    public void AddDropped(string reason, long points) => Dropped.AddOrUpdate(reason, points, (_, v) => v + points);
    public void AddError(string type) => Errors.AddOrUpdate(type, 1, (_, v) => v + 1);
}
