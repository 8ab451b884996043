using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Sinks.Feed;

/// <summary>One connected feed client: its subscriptions, what is held for it, its send and receive loops.</summary>
/// <remarks>
/// <para>What is held for a client is bounded. Its queue takes at most <see cref="FeedOptions.ClientQueue"/>
/// messages and <see cref="FeedOptions.ClientQueueBytes"/> bytes (counting the message being sent). Beyond that,
/// updates from the dispatcher are conflated (the latest per series or alert, as the JSON it will be sent as);
/// conflated updates may take as many bytes again, after which the client is disconnected. The client's own
/// requests wait for room instead: answers and snapshots are never dropped, the receive loop stops reading until
/// the client has read, and a snapshot goes out in parts of about <see cref="SnapshotPartBytes"/> so that it
/// never sits in memory whole.</para>
/// <para>Threads: the dispatcher calls <see cref="EnqueuePoints"/> and <see cref="EnqueueAlerts"/>; the receive
/// loop handles requests; the send loop sends. Everything they share is under <c>_lock</c>.</para>
/// <para>Two kinds of client share all of this and differ only in their <see cref="IFeedTransport"/>: a WebSocket
/// client sends requests (subscribe, unsubscribe) and gets one message per feed message; an event-stream client
/// (<c>GET /api/stream</c>) has one subscription, given by its URL, and gets each message as an event.</para>
/// </remarks>
internal sealed class FeedClient
{
    /// <summary>A snapshot is cut into messages of about this size, each queued when there is room for it.</summary>
    internal const int SnapshotPartBytes = 64 * 1024;

    /// <summary>Longest request taken; a longer one is read to its end, dropped and answered with an error.</summary>
    internal const int MaxRequestBytes = 64 * 1024;

    private readonly IFeedTransport _transport;
    // The WebSocket requests are read from; null for an event-stream client, whose one subscription is _fixed.
    private readonly WebSocket? _socket;
    private readonly FeedSubscription? _fixed;
    private readonly FeedHub _hub;
    private readonly FeedOptions _options;
    private readonly object _lock = new();
    private readonly Queue<byte[]> _queue = new();
    // While the queue is full: the latest update per (subscription, series or alert), as one element of the
    // "updates" array of the conflated message that will carry it.
    private readonly Dictionary<(int Sub, string Key), byte[]> _conflated = new();
    private readonly CancellationTokenSource _closing = new();
    private long _queuedBytes, _conflatedBytes;
    private long _behindSince, _closeRequestedAt;
    private TaskCompletionSource? _wake, _room;
    private string? _closeReason;
    private bool _aborted;
    private int _nextSubscription;

    public FeedClient(long id, WebSocket socket, ApiToken token, FeedHub hub)
        : this(id, new WebSocketFeedTransport(socket), token, hub)
    {
        _socket = socket;
    }

    /// <summary>A client that asks for nothing once connected: <paramref name="subscription"/> is all it gets.</summary>
    public FeedClient(long id, IFeedTransport transport, FeedSubscription subscription, ApiToken token, FeedHub hub)
        : this(id, transport, token, hub)
    {
        _fixed = subscription;
    }

    private FeedClient(long id, IFeedTransport transport, ApiToken token, FeedHub hub)
    {
        Id = id;
        Token = token;
        _transport = transport;
        _hub = hub;
        _options = hub.Options;
    }

    /// <summary><c>websocket</c> or <c>sse</c>.</summary>
    public string Kind => _transport.Kind;

    public long Id { get; }
    public ApiToken Token { get; }
    public string Who => Token.Name;

    /// <summary>Whether this client's token may read what was written to <paramref name="target"/>.</summary>
    public bool MayRead(string target) => Token.Databases is null || Token.MayUse(_hub.DatabaseOf(target));

    /// <summary>A copy, replaced on every change: the dispatcher reads it without locking.</summary>
    public volatile FeedSubscription[] Subscriptions = [];

    public async Task RunAsync(CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _closing.Token);
        var sending = SendLoopAsync(linked.Token);
        try
        {
            if (_socket is not null) await ReceiveLoopAsync(linked.Token).ConfigureAwait(false);
            else await RunFixedAsync(sending, linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
        // A close the send loop was asked for goes out before the connection is torn down, if it can.
        if (Volatile.Read(ref _closeReason) is not null) await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        _closing.Cancel();
        Wake();
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    // An event-stream client: its subscription starts at once (snapshot, then updates), and it reads nothing from
    // the client. It lasts until the send loop ends (closed, failed) or the connection or the daemon goes.
    private async Task RunFixedAsync(Task sending, CancellationToken ct)
    {
        if (!await StartAsync(_fixed!, acknowledge: false, ct).ConfigureAwait(false)) return;
        await Task.WhenAny(sending, Task.Delay(Timeout.Infinite, ct)).ConfigureAwait(false);
    }

    /// <summary>Lets go of everything still held for the client (it is gone); the bytes that were held.</summary>
    public long Release()
    {
        lock (_lock)
        {
            var held = _queuedBytes + _conflatedBytes;
            _queue.Clear();
            _conflated.Clear();
            _queuedBytes = _conflatedBytes = 0;
            _closeReason ??= "closed";
            return held;
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken ct)
    {
        // Clients send only small requests; a longer one is assembled below. Small, since every client holds one.
        var buffer = new byte[2048];
        var socket = _socket!;
        while (socket.State == WebSocketState.Open)
        {
            using var message = new MemoryStream();
            var tooLarge = false;
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (socket.State == WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                // The rest of an oversized request is read and thrown away: it costs the client, not memory.
                if (tooLarge) continue;
                message.Write(buffer, 0, result.Count);
                if (message.Length > MaxRequestBytes)
                {
                    tooLarge = true;
                    message.SetLength(0);
                }
            } while (!result.EndOfMessage);

            bool open;
            if (tooLarge) open = await ErrorAsync($"request too large: requests are limited to {MaxRequestBytes / 1024} KB", ct).ConfigureAwait(false);
            else if (result.MessageType == WebSocketMessageType.Binary) open = await ErrorAsync("binary messages are not taken: send requests as JSON text", ct).ConfigureAwait(false);
            else open = await HandleAsync(message.GetBuffer().AsMemory(0, (int)message.Length), ct).ConfigureAwait(false);
            if (!open) return;
        }
    }

    /// <summary>One request; false once the connection is being closed.</summary>
    private async Task<bool> HandleAsync(ReadOnlyMemory<byte> text, CancellationToken ct)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            return await ErrorAsync("not JSON: " + e.Message, ct).ConfigureAwait(false);
        }
        using (doc)
        {
            try
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    return await ErrorAsync($"a request is a JSON object with an op, not {FeedSubscription.Describe(root)}", ct).ConfigureAwait(false);
                if (!root.TryGetProperty("op", out var op)) return await ErrorAsync("op is missing: subscribe or unsubscribe", ct).ConfigureAwait(false);
                switch (op.ValueKind == JsonValueKind.String ? op.GetString() : null)
                {
                    case "subscribe": return await SubscribeAsync(root, ct).ConfigureAwait(false);
                    case "unsubscribe": return await UnsubscribeAsync(root, ct).ConfigureAwait(false);
                    default: return await ErrorAsync($"op must be subscribe or unsubscribe, not {FeedSubscription.Describe(op)}", ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not (OperationCanceledException or WebSocketException))
            {
                // Whatever a request holds must not drop the connection: the client hears of it, the log has it.
                _hub.LogRequestFailed(e, Id, Who);
                return await ErrorAsync("the request could not be handled: " + e.Message, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<bool> SubscribeAsync(JsonElement root, CancellationToken ct)
    {
        if (Subscriptions.Length >= _options.MaxSubscriptions)
            return await ErrorAsync($"this connection has {Subscriptions.Length} subscriptions, the most Feed:MaxSubscriptions allows: unsubscribe one first", ct).ConfigureAwait(false);
        var sub = FeedSubscription.Parse(root, _nextSubscription + 1, out var error);
        if (sub is null) return await ErrorAsync(error!, ct).ConfigureAwait(false);
        return await StartAsync(sub, acknowledge: true, ct).ConfigureAwait(false);
    }

    /// <summary>The subscription's snapshot, then its updates; <paramref name="acknowledge"/>: a subscribed message first.</summary>
    private async Task<bool> StartAsync(FeedSubscription sub, bool acknowledge, CancellationToken ct)
    {
        _nextSubscription++;
        var subscribed = FeedJson.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "subscribed");
            w.WriteNumber("sub", sub.Id);
            w.WriteString("channel", sub.Channel);
            w.WriteEndObject();
        });
        if (acknowledge && !await EnqueueRequestedAsync(subscribed, ct).ConfigureAwait(false)) return false;
        // Updates only after the snapshot is queued: the client sees the picture, then what changes it. The
        // subscription takes effect as the snapshot's last part is queued, under the same lock, so it is in place
        // before the client can have read that part (and written anything in answer to it).
        void Start()
        {
            Subscriptions = [.. Subscriptions, sub];
            _hub.Added(this, sub);
        }
        return sub.Channel switch
        {
            "points" when _hub.PointsSnapshot is { } points => await SnapshotAsync(sub, "points", points(sub, Token), FeedJson.WritePoint, Start, ct).ConfigureAwait(false),
            "alerts" when _hub.AlertsSnapshot is { } alerts => await SnapshotAsync(sub, "alerts",
                alerts().Where(a => MayRead(a.Database) && sub.MatchesSeries(a.Measurement, a.Tags) && sub.MatchesField(a.Field)), FeedJson.WriteActive, Start, ct).ConfigureAwait(false),
            _ => await SnapshotAsync(sub, sub.Channel == "alerts" ? "alerts" : "points", Array.Empty<DecodedPoint>(), FeedJson.WritePoint, Start, ct).ConfigureAwait(false),
        };
    }

    private async Task<bool> UnsubscribeAsync(JsonElement root, CancellationToken ct)
    {
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not ("op" or "sub"))
                return await ErrorAsync($"unknown property '{FeedSubscription.Shorten(property.Name)}': unsubscribe takes sub", ct).ConfigureAwait(false);
        }
        if (!root.TryGetProperty("sub", out var s)) return await ErrorAsync("sub is missing: the number the subscribed message gave", ct).ConfigureAwait(false);
        if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt32(out var id))
            return await ErrorAsync($"sub must be the number the subscribed message gave, not {FeedSubscription.Describe(s)}", ct).ConfigureAwait(false);
        FeedSubscription? gone;
        lock (_lock)
        {
            gone = Subscriptions.FirstOrDefault(x => x.Id == id);
            Subscriptions = Subscriptions.Where(x => x.Id != id).ToArray();
        }
        if (gone is not null) _hub.Removed(this, gone);
        var removed = gone is not null;
        return await EnqueueRequestedAsync(FeedJson.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", removed ? "unsubscribed" : "error");
            w.WriteNumber("sub", id);
            if (!removed) w.WriteString("message", "no such subscription");
            w.WriteEndObject();
        }), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The first picture of a subscription, read lazily from <paramref name="items"/> and cut into messages of
    /// about <see cref="SnapshotPartBytes"/>; all but the last carry <c>"more":true</c>. Each part is built only
    /// once the previous one found room, so a large snapshot for a client that does not read costs one part.
    /// </summary>
    private async Task<bool> SnapshotAsync<T>(FeedSubscription sub, string array, IEnumerable<T> items, Action<Utf8JsonWriter, T> write,
        Action whenLastQueued, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using var e = items.GetEnumerator();
        var more = e.MoveNext();
        do
        {
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("type", "snapshot");
                w.WriteNumber("sub", sub.Id);
                w.WriteStartArray(array);
                while (more && w.BytesCommitted + w.BytesPending < SnapshotPartBytes)
                {
                    write(w, e.Current);
                    more = e.MoveNext();
                }
                w.WriteEndArray();
                if (more) w.WriteBoolean("more", true);
                w.WriteEndObject();
            }
            if (!await EnqueueRequestedAsync(buffer.WrittenSpan.ToArray(), ct, more ? null : whenLastQueued).ConfigureAwait(false)) return false;
        } while (more);
        return true;
    }

    private Task<bool> ErrorAsync(string message, CancellationToken ct) =>
        EnqueueRequestedAsync(FeedJson.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "error");
            w.WriteString("message", message);
            w.WriteEndObject();
        }), ct);

    /// <summary>
    /// Queues an answer to the client's own request, waiting for room: answers are never conflated or dropped.
    /// A client that does not read for <see cref="FeedOptions.SlowClientTimeout"/> meanwhile is told to go
    /// (1008, once the send in progress completes), and aborted after as long again. False: the connection ends.
    /// </summary>
    /// <param name="whenQueued">Run under the client's lock as the message is queued.</param>
    private async Task<bool> EnqueueRequestedAsync(byte[] message, CancellationToken ct, Action? whenQueued = null)
    {
        while (true)
        {
            TaskCompletionSource? room = null;
            lock (_lock)
            {
                if (_closeReason is not null) return false;
                if (HasRoom())
                {
                    Add(message);
                    whenQueued?.Invoke();
                }
                else room = _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            if (room is null)
            {
                _hub.AddQueued(message.Length);
                Wake();
                return true;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.SlowClientTimeout);
            try
            {
                await room.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await DisconnectSlowAsync($"too slow: read none of its answers for {_options.SlowClientTimeout.TotalSeconds:0} s", ct).ConfigureAwait(false);
                return false;
            }
        }
    }

    /// <summary>
    /// Lets the client go because its token no longer admits it (a reload changed the tokens): closed as a slow
    /// client is, with 1008 and <paramref name="reason"/>, but not counted as slow.
    /// </summary>
    public void Revoke(string reason) => _ = DisconnectAsync(reason, slow: false, _closing.Token);

    private Task DisconnectSlowAsync(string reason, CancellationToken ct) => DisconnectAsync(reason, slow: true, ct);

    // The send loop closes with the reason once its send in progress completes; one that never completes (the
    // client reads nothing at all, so no close frame could reach it either) is aborted after as long again.
    private async Task DisconnectAsync(string reason, bool slow, CancellationToken ct)
    {
        if (!RequestClose(reason, slow)) return;
        try
        {
            await Task.Delay(_options.SlowClientTimeout, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        Abort(reason, slow);
    }

    /// <summary>Asks the send loop to close with 1008 and <paramref name="reason"/>; false when it already is closing.</summary>
    private bool RequestClose(string reason, bool slow = true)
    {
        long freed;
        lock (_lock)
        {
            if (_closeReason is not null) return false;
            _closeReason = reason;
            _closeRequestedAt = Environment.TickCount64;
            // Nothing queued will be sent now: let go of it at once (the message being sent stays counted).
            long queued = 0;
            foreach (var m in _queue) queued += m.Length;
            freed = queued + _conflatedBytes;
            _queuedBytes -= queued;
            _conflatedBytes = 0;
            _queue.Clear();
            _conflated.Clear();
        }
        _hub.AddQueued(-freed);
        _hub.Disconnected(this, reason, slow);
        Wake();
        return true;
    }

    /// <summary>Ends the connection at once; <paramref name="reason"/> is logged unless the client was already told it.</summary>
    private void Abort(string reason, bool slow = true)
    {
        bool told;
        lock (_lock)
        {
            if (_aborted) return;
            _aborted = true;
            told = _closeReason is not null;
            _closeReason ??= reason;
        }
        if (!told) _hub.Disconnected(this, reason, slow);
        _closing.Cancel();
        _transport.Abort();
    }

    private bool HasRoom() => _queue.Count < _options.ClientQueue && _queuedBytes < _options.ClientQueueBytes;

    private void Add(byte[] message)
    {
        _queue.Enqueue(message);
        _queuedBytes += message.Length;
    }

    private void Wake()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            wake = _wake;
            _wake = null;
        }
        wake?.TrySetResult();
    }

    public void EnqueuePoints(FeedSubscription sub, List<DecodedPoint> points) =>
        Enqueue(sub, sub.Channel, "points", "point", points, FeedJson.WritePoint,
            p => p.Measurement + "," + string.Join(",", p.Tags.Select(t => t.Key + "=" + t.Value)));

    public void EnqueueAlerts(FeedSubscription sub, List<AlertEvent> events) =>
        Enqueue(sub, "alerts", "events", "alert", events, FeedJson.WriteAlert, e => "alert:" + e.AlertId);

    // One message for the whole list while the queue has room; once it is full, the latest update per series
    // (or per alert) waits among the conflated ones until the send loop has caught up.
    private void Enqueue<T>(FeedSubscription sub, string type, string array, string single, List<T> items,
        Action<Utf8JsonWriter, T> write, Func<T, string> key)
    {
        long added = 0;
        string? overflow = null, stuck = null;
        lock (_lock)
        {
            // On its way out: nothing more is taken; one that stays stuck is aborted.
            if (_closeReason is not null) stuck = Stuck();
            else if (_conflated.Count == 0 && HasRoom())
            {
                var bytes = FeedJson.Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("type", type);
                    w.WriteNumber("sub", sub.Id);
                    w.WriteStartArray(array);
                    foreach (var item in items) write(w, item);
                    w.WriteEndArray();
                    w.WriteEndObject();
                });
                Add(bytes);
                added = bytes.Length;
            }
            else
            {
                if (_conflated.Count == 0) _behindSince = Environment.TickCount64;
                foreach (var item in items)
                {
                    var slot = (sub.Id, key(item));
                    var entry = FeedJson.Json(w =>
                    {
                        w.WriteStartObject();
                        w.WriteNumber("sub", sub.Id);
                        w.WritePropertyName(single);
                        write(w, item);
                        w.WriteEndObject();
                    });
                    if (_conflated.TryGetValue(slot, out var old))
                    {
                        _hub.CountConflated(1);
                        added -= old.Length;
                    }
                    _conflated[slot] = entry;
                    added += entry.Length;
                }
                _conflatedBytes += added;
                if (_conflatedBytes > _options.ClientQueueBytes)
                    overflow = $"too slow: more than {_options.ClientQueueBytes} bytes of updates waited for it";
                else stuck = Stuck();
            }
        }
        _hub.AddQueued(added);
        if (overflow is not null) RequestClose(overflow);
        // Outside the lock: cancelling runs the loops' continuations, which take it.
        else if (stuck is not null) Abort(stuck);
        else Wake();
    }

    private async Task SendLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            byte[]? message = null;
            string? close = null, slow = null;
            Task? idle = null;
            lock (_lock)
            {
                if (_closeReason is not null) close = _closeReason;
                else if (_conflated.Count > 0 && Environment.TickCount64 - _behindSince > _options.SlowClientTimeout.TotalMilliseconds)
                    slow = $"too slow: fell behind the feed for more than {_options.SlowClientTimeout.TotalSeconds:0} s";
                else if (_queue.TryDequeue(out message)) { }
                // The queue is empty: what was conflated while it was full goes now, as one message.
                else if (_conflated.Count > 0) message = TakeConflated();
                // Idle until something is queued: no timer per client (10 000 idle clients must cost next to
                // nothing). Falling behind is only possible while updates arrive, and each arrival wakes this loop.
                else idle = (_wake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            if (slow is not null)
            {
                RequestClose(slow);
                continue;
            }
            if (close is not null)
            {
                await _transport.CloseAsync(close).ConfigureAwait(false);
                _closing.Cancel();
                return;
            }
            if (idle is not null)
            {
                if (_transport.KeepAliveEvery is not { } every) await idle.WaitAsync(ct).ConfigureAwait(false);
                else
                {
                    // A transport without pings of its own (an event stream) gets a keep-alive line when idle.
                    try
                    {
                        await idle.WaitAsync(every, ct).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                        await _transport.KeepAliveAsync(ct).ConfigureAwait(false);
                    }
                }
                continue;
            }
            await _transport.SendAsync(message!, ct).ConfigureAwait(false);
            _hub.CountSent();
            TaskCompletionSource? room = null;
            lock (_lock)
            {
                _queuedBytes -= message!.Length;
                if (_room is not null && HasRoom())
                {
                    room = _room;
                    _room = null;
                }
            }
            _hub.AddQueued(-message.Length);
            room?.TrySetResult();
        }
    }

    // A client that reads nothing at all blocks the send loop inside a send, where it cannot check the deadline:
    // past twice the timeout behind (or the timeout after it was told to go) the connection is aborted from here,
    // on the next update (no close frame can get through to it anyway). Null: not stuck, or already aborted.
    private string? Stuck()
    {
        if (_aborted) return null;
        var now = Environment.TickCount64;
        if (_closeReason is not null)
            return now - _closeRequestedAt > _options.SlowClientTimeout.TotalMilliseconds ? _closeReason : null;
        return _conflated.Count > 0 && now - _behindSince > 2 * _options.SlowClientTimeout.TotalMilliseconds
            ? $"too slow: read nothing for more than {2 * _options.SlowClientTimeout.TotalSeconds:0} s"
            : null;
    }

    /// <summary>The conflated updates as one message; their bytes move from the conflated to the queued account.</summary>
    private byte[] TakeConflated()
    {
        var prefix = """{"type":"conflated","updates":["""u8;
        var length = prefix.Length + 2 + _conflated.Count - 1;
        foreach (var entry in _conflated.Values) length += entry.Length;
        var message = new byte[length];
        prefix.CopyTo(message);
        var at = prefix.Length;
        var first = true;
        foreach (var entry in _conflated.Values)
        {
            if (!first) message[at++] = (byte)',';
            first = false;
            entry.CopyTo(message, at);
            at += entry.Length;
        }
        message[at++] = (byte)']';
        message[at] = (byte)'}';
        _conflated.Clear();
        _queuedBytes += message.Length;
        // The hub's total moves by the difference: the message is a few bytes longer than its entries.
        _hub.AddQueued(message.Length - _conflatedBytes);
        _conflatedBytes = 0;
        return message;
    }
}
