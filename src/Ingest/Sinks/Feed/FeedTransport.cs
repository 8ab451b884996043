using System.Net.WebSockets;

namespace Ingest.Sinks.Feed;

/// <summary>
/// Where a feed client's messages go: a WebSocket (<c>/ws</c>) or a server-sent event stream (<c>/api/stream</c>).
/// <see cref="FeedClient"/> queues, conflates and times out the same way for both; only the writing differs.
/// Called from the client's send loop alone, so one write at a time.
/// </summary>
internal interface IFeedTransport
{
    /// <summary>Name for logs and status: <c>websocket</c> or <c>sse</c>.</summary>
    string Kind { get; }

    /// <summary>Sends one feed message (its JSON, whose first property is <c>type</c>) and flushes it.</summary>
    ValueTask SendAsync(byte[] message, CancellationToken ct);

    /// <summary>
    /// How often the send loop must call <see cref="KeepAliveAsync"/> while it has nothing to send; null when the
    /// transport keeps the connection alive by itself (WebSocket pings).
    /// </summary>
    TimeSpan? KeepAliveEvery { get; }

    ValueTask KeepAliveAsync(CancellationToken ct);

    /// <summary>Tells the client it is being let go and why, waiting a short while at most; then the connection ends.</summary>
    Task CloseAsync(string reason);

    /// <summary>Ends the connection at once (a client that reads nothing cannot be told anything).</summary>
    void Abort();
}

/// <summary>The feed over a WebSocket: one text message per feed message; a close frame 1008 with the reason.</summary>
internal sealed class WebSocketFeedTransport(WebSocket socket) : IFeedTransport
{
    public WebSocket Socket => socket;
    public string Kind => "websocket";
    public TimeSpan? KeepAliveEvery => null;

    public ValueTask SendAsync(byte[] message, CancellationToken ct) =>
        socket.SendAsync(message.AsMemory(), WebSocketMessageType.Text, true, ct);

    public ValueTask KeepAliveAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public async Task CloseAsync(string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public void Abort() => socket.Abort();
}
