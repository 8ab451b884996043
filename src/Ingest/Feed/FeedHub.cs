using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging;

namespace Ingest.Feed;

/// <summary>Settings of the live feed (section <c>Feed</c>).</summary>
public sealed record FeedOptions
{
    /// <summary>Clients connected at once; one more is answered 503.</summary>
    public int MaxClients { get; init; } = 10_000;

    /// <summary>Messages queued per client before its updates are conflated (latest value per series).</summary>
    public int ClientQueue { get; init; } = 256;

    /// <summary>How long a client may stay behind (conflating) before it is disconnected.</summary>
    public TimeSpan SlowClientTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Pings that keep idle connections alive through proxies.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Origins a browser may open the feed from (<c>*</c>: any); requests without an Origin header are always allowed.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];
}

/// <summary>
/// The live feed's clients and what they subscribed to. The pipeline publishes into it (points and windows from
/// the transform runner, alert events from the threshold check); each client has a bounded queue drained by
/// its own send loop, so a slow client never holds up the pipeline or other clients: when its queue is full its
/// updates are conflated (the latest per series), and a client still behind after
/// <see cref="FeedOptions.SlowClientTimeout"/> is disconnected with a close reason.
/// </summary>
public sealed partial class FeedHub
{
    private readonly ConcurrentDictionary<long, FeedClient> _clients = new();
    private readonly ILogger<FeedHub> _logger;
    private long _nextId;
    private long _disconnectedSlow, _conflated, _sent;

    public FeedHub(FeedOptions options, IngestMeter meter, ILogger<FeedHub> logger)
    {
        Options = options;
        _logger = logger;
        meter.Meter.CreateObservableGauge("ingest.feed.clients", () => _clients.Count, "{client}", "Live feed clients connected.");
        meter.Meter.CreateObservableCounter("ingest.feed.messages.sent", () => Interlocked.Read(ref _sent), "{message}", "Live feed messages sent.");
        meter.Meter.CreateObservableCounter("ingest.feed.updates.conflated", () => Interlocked.Read(ref _conflated), "{update}", "Updates merged into a later one for a client that fell behind.");
        meter.Meter.CreateObservableCounter("ingest.feed.clients.disconnected_slow", () => Interlocked.Read(ref _disconnectedSlow), "{client}", "Clients disconnected for staying behind.");
    }

    public FeedOptions Options { get; }
    public int Count => _clients.Count;

    /// <summary>Where a new points subscription gets its first picture (the live state, of the token's databases); null: none.</summary>
    public Func<FeedSubscription, ApiToken, IEnumerable<DecodedPoint>>? PointsSnapshot { get; set; }

    /// <summary>The database a batch or alert target names, which is what a token is granted (<see cref="InfluxOptions.DatabaseOf"/>).</summary>
    public Func<string, string> DatabaseOf { get; set; } = target => target;

    /// <summary>Where a new alerts subscription gets the active alerts.</summary>
    public Func<IReadOnlyList<ActiveAlert>>? AlertsSnapshot { get; set; }

    private int _pointSubscriptions, _aggregateSubscriptions, _alertSubscriptions;

    /// <summary>Runs one connected client until it or the daemon closes the connection. It sees the databases <paramref name="token"/> may use.</summary>
    public async Task RunAsync(WebSocket socket, ApiToken token, CancellationToken stopping)
    {
        var client = new FeedClient(Interlocked.Increment(ref _nextId), socket, token, this);
        _clients[client.Id] = client;
        try
        {
            await client.RunAsync(stopping).ConfigureAwait(false);
        }
        finally
        {
            _clients.TryRemove(client.Id, out _);
            foreach (var sub in client.Subscriptions) Removed(client, sub);
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

    /// <summary>The distinct measurements of a batch, in order of first appearance (runs of one measurement are cheap).</summary>
    private static List<string> Measurements(PointBatch batch)
    {
        var result = new List<string>(4);
        ReadOnlySpan<byte> last = default;
        for (var i = 0; i < batch.Count; i++)
        {
            var key = batch.SeriesKey(i);
            var raw = key[..LineProtocol.Escaping.MeasurementLength(key)];
            if (raw.SequenceEqual(last)) continue;
            last = raw;
            var name = LineProtocol.Escaping.Unescape(raw, LineProtocol.EscapeKind.Measurement);
            if (!result.Contains(name)) result.Add(name);
        }
        return result;
    }

    /// <summary>Raw points, on the transform runner's thread. Costs nothing without a points subscription.</summary>
    public void PublishPoints(PointBatch batch)
    {
        if (Volatile.Read(ref _pointSubscriptions) == 0 || batch.Count == 0) return;
        Publish(batch, "points");
    }

    /// <summary>Windows a downsampling tier wrote (measurements <c>m_tier</c>), on the transform runner's thread.</summary>
    public void PublishAggregates(PointBatch batch)
    {
        if (Volatile.Read(ref _aggregateSubscriptions) == 0 || batch.Count == 0) return;
        Publish(batch, "aggregates");
    }

    // Runs on the transform runner's thread: per subscription and point one lookup of the series' earlier
    // verdict; only points some subscriber takes are decoded, each once.
    private void Publish(PointBatch batch, string channel)
    {
        var refs = batch.Points;
        var count = refs.Length;
        DecodedPoint?[]? decoded = null;
        DecodedPoint Decoded(int i) => (decoded ??= new DecodedPoint?[count])[i] ??= PointDecoder.Decode(batch, i);
        List<string>? measurements = null;
        string? database = null;
        foreach (var group in _groups)
        {
            if (group.Channel != channel) continue;
            if (group.Measurement is { } filter)
            {
                measurements ??= Measurements(batch);
                var any = false;
                foreach (var m in measurements)
                {
                    var name = m;
                    if (group.Tier is { } t)
                    {
                        if (!name.EndsWith("_" + t, StringComparison.Ordinal)) continue;
                        name = name[..^(t.Length + 1)];
                    }
                    if (Transforms.Glob.IsMatch(filter, name)) { any = true; break; }
                }
                if (!any) continue;
            }
            foreach (var (client, sub) in group.Members)
            {
                if (client.Token.Databases is not null && !client.Token.MayUse(database ??= DatabaseOf(batch.Database))) continue;
                var cache = sub.SeriesMatches;
                if (cache.Count > 100_000) cache.Clear();
                List<DecodedPoint>? matched = null;
                for (var i = 0; i < refs.Length; i++)
                {
                    if (!cache.TryGetValue(refs[i].SeriesHash, out var takes))
                    {
                        var candidate = Decoded(i);
                        string measurement = candidate.Measurement;
                        takes = true;
                        if (sub.Tier is { } tier)
                        {
                            takes = measurement.EndsWith("_" + tier, StringComparison.Ordinal);
                            if (takes) measurement = measurement[..^(tier.Length + 1)];
                        }
                        takes = takes && sub.MatchesSeries(measurement, candidate.Tags);
                        cache[refs[i].SeriesHash] = takes;
                    }
                    if (!takes) continue;
                    var p = Decoded(i);
                    var fields = sub.Fields is null ? p.Fields : p.Fields.Where(f => sub.MatchesField(f.Key)).ToList();
                    if (fields.Count == 0) continue;
                    (matched ??= []).Add(fields == p.Fields ? p : p with { Fields = fields });
                }
                if (matched is not null) client.EnqueuePoints(sub, matched);
            }
        }
    }

    /// <summary>Alert transitions, from the threshold check (under its lock: must not block).</summary>
    public void PublishAlerts(IReadOnlyList<AlertEvent> events)
    {
        if (Volatile.Read(ref _alertSubscriptions) == 0 || events.Count == 0) return;
        foreach (var group in _groups)
        {
            if (group.Channel != "alerts") continue;
            foreach (var (client, sub) in group.Members)
            {
                var matched = events.Where(e => client.MayRead(e.Database) && sub.MatchesSeries(e.Measurement, e.Tags) && sub.MatchesField(e.Field)).ToList();
                if (matched.Count > 0) client.EnqueueAlerts(sub, matched);
            }
        }
    }

    internal void CountSent() => Interlocked.Increment(ref _sent);
    internal void CountConflated(int n) => Interlocked.Add(ref _conflated, n);

    internal void DisconnectedSlow(FeedClient client)
    {
        Interlocked.Increment(ref _disconnectedSlow);
        LogSlow(client.Id, client.Who, Options.SlowClientTimeout.TotalSeconds);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Feed client {Id} ({Who}) stayed behind for more than {Seconds} s and was disconnected")]
    private partial void LogSlow(long id, string who, double seconds);

    internal static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    internal static void WritePoint(Utf8JsonWriter w, DecodedPoint p)
    {
        w.WriteStartObject();
        w.WriteString("measurement", p.Measurement);
        w.WriteStartObject("tags");
        foreach (var t in p.Tags) w.WriteString(t.Key, t.Value);
        w.WriteEndObject();
        w.WriteStartObject("fields");
        foreach (var f in p.Fields)
        {
            var v = f.Value;
            switch (v.Type)
            {
                case FieldType.Float: if (double.IsFinite(v.Float)) w.WriteNumber(f.Key, v.Float); else w.WriteString(f.Key, v.Float.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
                case FieldType.Integer: w.WriteNumber(f.Key, v.Integer); break;
                case FieldType.Unsigned: w.WriteNumber(f.Key, v.Unsigned); break;
                case FieldType.Boolean: w.WriteBoolean(f.Key, v.Boolean); break;
                default: w.WriteString(f.Key, v.String); break;
            }
        }
        w.WriteEndObject();
        w.WriteNumber("time", p.Timestamp);
        w.WriteEndObject();
    }

    internal static void WriteAlert(Utf8JsonWriter w, AlertEvent e)
    {
        w.WriteStartObject();
        w.WriteString("id", e.AlertId);
        w.WriteString("rule", e.Rule);
        w.WriteString("database", e.Database);
        w.WriteString("seriesKey", e.SeriesKey);
        w.WriteString("measurement", e.Measurement);
        w.WriteStartObject("tags");
        foreach (var t in e.Tags) w.WriteString(t.Key, t.Value);
        w.WriteEndObject();
        w.WriteString("field", e.Field);
        w.WriteString("level", e.Level.ToString().ToLowerInvariant());
        w.WriteString("previous", e.Previous.ToString().ToLowerInvariant());
        if (double.IsFinite(e.Value)) w.WriteNumber("value", e.Value);
        w.WriteNumber("time", e.Timestamp);
        w.WriteString("message", e.Message);
        w.WriteEndObject();
    }
}

/// <summary>One connected feed client: its subscriptions, its bounded queue, its send and receive loops.</summary>
internal sealed class FeedClient
{
    private readonly WebSocket _socket;
    private readonly FeedHub _hub;
    private readonly Channel<byte[]> _queue;
    private readonly object _lock = new();
    // While the queue is full: the latest update per (subscription, series or alert), sent once there is room.
    private readonly Dictionary<(int Sub, string Key), (string Property, Action<Utf8JsonWriter> Write)> _conflated = new();
    private readonly CancellationTokenSource _closing = new();
    private long _behindSince;
    private int _nextSubscription;

    public FeedClient(long id, WebSocket socket, ApiToken token, FeedHub hub)
    {
        Id = id;
        Token = token;
        _socket = socket;
        _hub = hub;
        _queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(hub.Options.ClientQueue) { SingleReader = true });
    }

    public long Id { get; }
    public ApiToken Token { get; }
    public string Who => Token.Name;

    /// <summary>Whether this client's token may read what was written to <paramref name="target"/>.</summary>
    public bool MayRead(string target) => Token.Databases is null || Token.MayUse(_hub.DatabaseOf(target));

    /// <summary>A copy, replaced on every change: publishers read it without locking.</summary>
    public volatile FeedSubscription[] Subscriptions = [];

    public async Task RunAsync(CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _closing.Token);
        var sending = SendLoopAsync(linked.Token);
        try
        {
            await ReceiveLoopAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        _closing.Cancel();
        _queue.Writer.TryComplete();
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken ct)
    {
        // Clients send only small requests; a longer one is assembled below. Small, since every client holds one.
        var buffer = new byte[2048];
        while (_socket.State == WebSocketState.Open)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await _socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (_socket.State == WebSocketState.CloseReceived)
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (message.Length > 64 * 1024)
                {
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, "messages are limited to 64 KB").ConfigureAwait(false);
                    return;
                }
            } while (!result.EndOfMessage);
            Handle(message.ToArray());
        }
    }

    private void Handle(byte[] text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            Reply(w => { w.WriteString("type", "error"); w.WriteString("message", "not JSON: " + e.Message); });
            return;
        }
        using (doc)
        {
            var root = doc.RootElement;
            var op = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("op", out var o) ? o.GetString() : null;
            switch (op)
            {
                case "subscribe":
                    var sub = FeedSubscription.Parse(root, Interlocked.Increment(ref _nextSubscription), out var error);
                    if (sub is null)
                    {
                        Reply(w => { w.WriteString("type", "error"); w.WriteString("message", error); });
                        return;
                    }
                    Reply(w =>
                    {
                        w.WriteString("type", "subscribed");
                        w.WriteNumber("sub", sub.Id);
                        w.WriteString("channel", sub.Channel);
                    });
                    SendSnapshot(sub);
                    // Updates only after the snapshot is queued: the client sees the picture, then what changes it.
                    lock (_lock) Subscriptions = [.. Subscriptions, sub];
                    _hub.Added(this, sub);
                    break;
                case "unsubscribe":
                    var id = root.TryGetProperty("sub", out var s) && s.TryGetInt32(out var n) ? n : -1;
                    FeedSubscription? gone;
                    lock (_lock)
                    {
                        gone = Subscriptions.FirstOrDefault(x => x.Id == id);
                        Subscriptions = Subscriptions.Where(x => x.Id != id).ToArray();
                    }
                    if (gone is not null) _hub.Removed(this, gone);
                    var removed = gone is not null;
                    Reply(w =>
                    {
                        w.WriteString("type", removed ? "unsubscribed" : "error");
                        w.WriteNumber("sub", id);
                        if (!removed) w.WriteString("message", "no such subscription");
                    });
                    break;
                default:
                    Reply(w => { w.WriteString("type", "error"); w.WriteString("message", "op must be subscribe or unsubscribe"); });
                    break;
            }
        }
    }

    private void SendSnapshot(FeedSubscription sub)
    {
        if (sub.Channel == "points" && _hub.PointsSnapshot is { } points)
        {
            var matched = points(sub, Token).ToList();
            Reply(w =>
            {
                w.WriteString("type", "snapshot");
                w.WriteNumber("sub", sub.Id);
                w.WriteStartArray("points");
                foreach (var p in matched) FeedHub.WritePoint(w, p);
                w.WriteEndArray();
            });
        }
        else if (sub.Channel == "alerts" && _hub.AlertsSnapshot is { } alerts)
        {
            var active = alerts().Where(a => MayRead(a.Database) && sub.MatchesSeries(a.Measurement, a.Tags)).ToList();
            Reply(w =>
            {
                w.WriteString("type", "snapshot");
                w.WriteNumber("sub", sub.Id);
                w.WriteStartArray("alerts");
                foreach (var a in active)
                {
                    w.WriteStartObject();
                    w.WriteString("id", a.Id);
                    w.WriteString("rule", a.Rule);
                    w.WriteString("database", a.Database);
                    w.WriteString("seriesKey", a.SeriesKey);
                    w.WriteString("level", a.Level.ToString().ToLowerInvariant());
                    if (double.IsFinite(a.Value)) w.WriteNumber("value", a.Value);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
        }
        else
        {
            Reply(w =>
            {
                w.WriteString("type", "snapshot");
                w.WriteNumber("sub", sub.Id);
                w.WriteStartArray(sub.Channel == "alerts" ? "alerts" : "points");
                w.WriteEndArray();
            });
        }
    }

    // Replies to the client's own requests are never conflated: they wait for room (the send loop is running).
    private void Reply(Action<Utf8JsonWriter> body)
    {
        var bytes = FeedHub.Json(w =>
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        });
        if (!_queue.Writer.TryWrite(bytes)) _ = _queue.Writer.WriteAsync(bytes, _closing.Token).AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public void EnqueuePoints(FeedSubscription sub, List<DecodedPoint> points) =>
        Enqueue(sub, sub.Channel, "points", "point", points, FeedHub.WritePoint,
            p => p.Measurement + "," + string.Join(",", p.Tags.Select(t => t.Key + "=" + t.Value)));

    public void EnqueueAlerts(FeedSubscription sub, List<AlertEvent> events) =>
        Enqueue(sub, "alerts", "events", "alert", events, FeedHub.WriteAlert, e => "alert:" + e.AlertId);

    // One message for the whole list while the queue has room; once it is full, the latest update per series
    // (or per alert) waits in the conflation map until the send loop has caught up.
    private void Enqueue<T>(FeedSubscription sub, string type, string array, string single, List<T> items,
        Action<Utf8JsonWriter, T> write, Func<T, string> key)
    {
        lock (_lock)
        {
            if (_conflated.Count == 0)
            {
                var bytes = FeedHub.Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("type", type);
                    w.WriteNumber("sub", sub.Id);
                    w.WriteStartArray(array);
                    foreach (var item in items) write(w, item);
                    w.WriteEndArray();
                    w.WriteEndObject();
                });
                if (_queue.Writer.TryWrite(bytes)) return;
                _behindSince = Environment.TickCount64;
            }
            foreach (var item in items)
            {
                var slot = (sub.Id, key(item));
                if (_conflated.ContainsKey(slot)) _hub.CountConflated(1);
                _conflated[slot] = (single, w => write(w, item));
            }
            AbortIfStuck();
        }
    }

    private async Task SendLoopAsync(CancellationToken ct)
    {
        var reader = _queue.Reader;
        while (!ct.IsCancellationRequested)
        {
            if (IsTooSlow())
            {
                _hub.DisconnectedSlow(this);
                await CloseAsync(WebSocketCloseStatus.PolicyViolation,
                    $"too slow: fell behind the feed for more than {_hub.Options.SlowClientTimeout.TotalSeconds:0} s").ConfigureAwait(false);
                _closing.Cancel();
                return;
            }
            if (reader.TryRead(out var message))
            {
                await _socket.SendAsync(message, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
                _hub.CountSent();
                continue;
            }
            // The queue is empty: what was conflated while it was full goes now, as one message.
            var merged = TakeConflated();
            if (merged is not null)
            {
                await _socket.SendAsync(merged, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
                _hub.CountSent();
                continue;
            }
            // Idle until something is queued: no timer per client (10 000 idle clients must cost next to nothing).
            // Falling behind is only possible while updates arrive, and each arrival wakes this loop.
            if (!await reader.WaitToReadAsync(ct).ConfigureAwait(false)) return;
        }
    }

    // A client that reads nothing at all blocks the send loop inside a send, where it cannot check the deadline:
    // past twice the timeout the connection is aborted from here (no close frame can get through to it anyway).
    private void AbortIfStuck()
    {
        if (_aborted || Environment.TickCount64 - _behindSince <= 2 * _hub.Options.SlowClientTimeout.TotalMilliseconds) return;
        _aborted = true;
        _hub.DisconnectedSlow(this);
        _closing.Cancel();
        _socket.Abort();
    }

    private bool _aborted;

    private bool IsTooSlow()
    {
        lock (_lock) return _conflated.Count > 0 && Environment.TickCount64 - _behindSince > _hub.Options.SlowClientTimeout.TotalMilliseconds;
    }

    private byte[]? TakeConflated()
    {
        lock (_lock)
        {
            if (_conflated.Count == 0) return null;
            var entries = _conflated.ToList();
            _conflated.Clear();
            return FeedHub.Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("type", "conflated");
                w.WriteStartArray("updates");
                foreach (var ((sub, _), (property, write)) in entries)
                {
                    w.WriteStartObject();
                    w.WriteNumber("sub", sub);
                    w.WritePropertyName(property);
                    write(w);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            });
        }
    }

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _socket.CloseOutputAsync(status, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
