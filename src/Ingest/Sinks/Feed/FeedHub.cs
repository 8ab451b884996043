using System.Collections.Concurrent;
using System.Net.WebSockets;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging;

namespace Ingest.Sinks.Feed;

/// <summary>
/// The live feed's clients and what they subscribed to. The pipeline hands it points, windows and alert events
/// (<see cref="PublishPoints"/>, <see cref="PublishAggregates"/>, <see cref="PublishAlerts"/>), which only queue
/// them: matching them against the subscriptions is the dispatcher's work, on a task of its own, so that no
/// pattern, however costly, holds up the transforms or the write path (see FeedHub.Dispatch.cs). Each client has a
/// bounded queue drained by its own send loop, so a slow client never holds up the dispatcher or other clients:
/// when its queue is full its updates are conflated (the latest per series), and a client still behind after
/// <see cref="FeedOptions.SlowClientTimeout"/> is disconnected with a close reason.
/// </summary>
public sealed partial class FeedHub : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, FeedClient> _clients = new();
    private readonly ILogger<FeedHub> _logger;
    private long _nextId;
    private long _disconnectedSlow, _conflated, _sent, _queuedBytes;

    public FeedHub(FeedOptions options, IngestMeter meter, PipelineTelemetry telemetry, ILogger<FeedHub> logger)
    {
        Options = options;
        _logger = logger;
        Stats = telemetry.Register(new StageStats("feed", "sink") { QueueDepth = () => QueuedPoints, QueueCapacity = options.PublishQueue });
        meter.Meter.CreateObservableGauge("ingest.feed.clients", () => _clients.Count, "{client}", "Live feed clients connected.");
        meter.Meter.CreateObservableGauge("ingest.feed.queued", () => QueuedBytes, "By",
            "Bytes of JSON waiting for live feed clients (queued messages and conflated updates).");
        meter.Meter.CreateObservableCounter("ingest.feed.messages.sent", () => Interlocked.Read(ref _sent), "{message}", "Live feed messages sent.");
        meter.Meter.CreateObservableCounter("ingest.feed.updates.conflated", () => Interlocked.Read(ref _conflated), "{update}", "Updates merged into a later one for a client that fell behind.");
        meter.Meter.CreateObservableCounter("ingest.feed.clients.disconnected_slow", () => Interlocked.Read(ref _disconnectedSlow), "{client}", "Clients disconnected for staying behind.");
        _dispatching = Task.Run(DispatchLoopAsync);
    }

    public FeedOptions Options { get; }
    public int Count => _clients.Count;

    /// <summary>Points handed to the feed and dispatched, and those dropped because the dispatcher was behind.</summary>
    public StageStats Stats { get; }

    /// <summary>Bytes of JSON held for all clients: queued messages and conflated updates.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Subscriptions of all clients.</summary>
    public int Subscriptions => Volatile.Read(ref _pointSubscriptions) + Volatile.Read(ref _aggregateSubscriptions) + Volatile.Read(ref _alertSubscriptions);

    /// <summary>Where a new points subscription gets its first picture (the live state, of the token's databases), read lazily; null: none.</summary>
    public Func<FeedSubscription, ApiToken, IEnumerable<DecodedPoint>>? PointsSnapshot { get; set; }

    /// <summary>The database a batch or alert target names, which is what a token is granted (<see cref="InfluxOptions.DatabaseOf"/>).</summary>
    public Func<string, string> DatabaseOf { get; set; } = target => target;

    /// <summary>Where a new alerts subscription gets the active alerts.</summary>
    public Func<IReadOnlyList<ActiveAlert>>? AlertsSnapshot { get; set; }

    private int _pointSubscriptions, _aggregateSubscriptions, _alertSubscriptions;

    /// <summary>Runs one connected client until it or the daemon closes the connection.</summary>
    public Task RunAsync(WebSocket socket, ApiToken token, CancellationToken stopping) =>
        RunAsync(new FeedClient(Interlocked.Increment(ref _nextId), socket, token, this), stopping);

    /// <summary>
    /// Runs a client of the event stream (<c>GET /api/stream</c>) with its one subscription until it goes, it is
    /// let go, or the daemon stops; it counts, queues and is timed out as a WebSocket client is.
    /// </summary>
    internal Task RunAsync(IFeedTransport transport, FeedSubscription subscription, ApiToken token, CancellationToken stopping) =>
        RunAsync(new FeedClient(Interlocked.Increment(ref _nextId), transport, subscription, token, this), stopping);

    /// <summary>Clients of each transport (<c>websocket</c>, <c>sse</c>), for the status.</summary>
    public IReadOnlyDictionary<string, int> CountByKind()
    {
        var counts = new Dictionary<string, int> { ["websocket"] = 0, ["sse"] = 0 };
        foreach (var client in _clients.Values) counts[client.Kind] = counts.GetValueOrDefault(client.Kind) + 1;
        return counts;
    }

    private async Task RunAsync(FeedClient client, CancellationToken stopping)
    {
        _clients[client.Id] = client;
        try
        {
            await client.RunAsync(stopping).ConfigureAwait(false);
        }
        finally
        {
            _clients.TryRemove(client.Id, out _);
            foreach (var sub in client.Subscriptions) Removed(client, sub);
            AddQueued(-client.Release());
        }
    }

    // Subscriptions grouped by (channel, tier, measurement filter): a batch is matched against each group's
    // filter once per measurement it holds, so thousands of clients watching other measurements cost a few
    // lookups per batch, not a pass over its points each. Replaced whole on every change.
    private volatile Group[] _groups = [];

    private sealed record Group(string Channel, string? Tier, string? Measurement, (FeedClient Client, FeedSubscription Sub)[] Members);

    private readonly Dictionary<(string, string?, string?), (FeedClient Client, FeedSubscription Sub)[]> _members = new();

    // Copy-on-write per group: a change costs the size of its group, publishing reads a stable snapshot.
    internal void Added(FeedClient client, FeedSubscription sub) => Change(client, sub, add: true);

    internal void Removed(FeedClient client, FeedSubscription sub) => Change(client, sub, add: false);

    private void Change(FeedClient client, FeedSubscription sub, bool add)
    {
        lock (_regroup)
        {
            var key = (sub.Channel, sub.Tier, sub.Measurement);
            var members = _members.GetValueOrDefault(key) ?? [];
            if (add) members = [.. members, (client, sub)];
            else
            {
                var index = Array.FindIndex(members, m => m.Sub == sub);
                if (index < 0) return;
                members = [.. members[..index], .. members[(index + 1)..]];
            }
            if (members.Length == 0) _members.Remove(key);
            else _members[key] = members;
            _groups = _members.Select(g => new Group(g.Key.Item1, g.Key.Item2, g.Key.Item3, g.Value)).ToArray();
            var delta = add ? 1 : -1;
            switch (sub.Channel)
            {
                case "points": _pointSubscriptions += delta; break;
                case "aggregates": _aggregateSubscriptions += delta; break;
                default: _alertSubscriptions += delta; break;
            }
        }
    }

    private readonly object _regroup = new();

    internal void CountSent() => Interlocked.Increment(ref _sent);
    internal void CountConflated(int n) => Interlocked.Add(ref _conflated, n);
    internal void AddQueued(long bytes) => Interlocked.Add(ref _queuedBytes, bytes);

    internal void Disconnected(FeedClient client, string reason, bool slow)
    {
        if (slow) Interlocked.Increment(ref _disconnectedSlow);
        LogSlow(client.Id, client.Who, client.Kind, reason);
    }

    /// <summary>
    /// Lets go of every client whose token <paramref name="stillAdmitted"/> no longer admits (a reload changed the
    /// tokens), each closed with <paramref name="reason"/>; returns how many.
    /// </summary>
    public int Revoke(Func<ApiToken, bool> stillAdmitted, string reason)
    {
        var revoked = 0;
        foreach (var client in _clients.Values)
        {
            if (stillAdmitted(client.Token)) continue;
            client.Revoke(reason);
            revoked++;
        }
        return revoked;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Feed client {Id} ({Who}, {Kind}) was disconnected: {Reason}")]
    private partial void LogSlow(long id, string who, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Feed client {Id} ({Who}): a request failed and was answered with an error")]
    internal partial void LogRequestFailed(Exception exception, long id, string who);
}
