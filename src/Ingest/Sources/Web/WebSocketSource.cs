using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using Ingest.Configuration;
using Websocket.Client;

namespace Ingest.Sources.Web;

/// <summary>The keys of a <c>websocket</c> source.</summary>
internal sealed record WebSocketSettings(
    Uri Url,
    IReadOnlyDictionary<string, string> Headers,
    string? Authorization,
    IReadOnlyList<string> Subscribe,
    TimeSpan PingInterval,
    TimeSpan PongTimeout,
    TimeSpan? ReconnectTimeout,
    TimeSpan ConnectTimeout,
    TimeSpan MaxReconnectDelay)
{
    public static readonly TimeSpan DefaultPingInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultPongTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    public static WebSocketSettings Read(SectionReader r)
    {
        var url = WebSettings.Url(r, "ws", "wss");
        var headers = WebSettings.Headers(r);
        var authorization = WebSettings.Authorization(r, basic: false);
        var subscribe = r.List("Subscribe") ?? [];
        for (var i = 0; i < subscribe.Count; i++)
            if (subscribe[i].Length == 0)
                throw new ConfigurationError($"{r.Name}:Subscribe:{i}", "", "a subscription is a text message, not empty");
        var ping = r.Duration("PingInterval", DefaultPingInterval, TimeSpan.Zero, TimeSpan.FromHours(1));
        var pong = r.Duration("PongTimeout", DefaultPongTimeout, TimeSpan.Zero, TimeSpan.FromHours(1));
        var silence = r.Duration("ReconnectTimeout", TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromDays(1));
        if (silence > TimeSpan.Zero && silence < TimeSpan.FromSeconds(1))
            throw new ConfigurationError(r.Name + ":ReconnectTimeout", r.String("ReconnectTimeout", ""), "expected 0 (off) or at least 1s");
        var connect = r.Duration("ConnectTimeout", DefaultConnectTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        return new WebSocketSettings(url, headers, authorization, subscribe, ping, pong,
            silence > TimeSpan.Zero ? silence : null, connect, WebSettings.MaxReconnectDelay(r));
    }
}

/// <summary>
/// A <c>websocket</c> source: a <see cref="WebsocketClient"/> kept connected to <c>Url</c>, sending the
/// <c>Subscribe</c> messages after each connect; each text or binary message is one <see cref="SourceMessage"/>.
/// At most once: what arrives while the connection is down is not seen. Every attempt after the first waits
/// <see cref="ReconnectBackoff"/> (a failed connect, a close by the server, a lost connection alike); the backoff
/// starts over once a connection has proved itself (a message received, or up for a few seconds).
/// </summary>
internal sealed class WebSocketConnector(WebSocketSettings settings) : ISourceConnector
{
    public static SourceType Type { get; } = new("websocket", SourceDelivery.AtMostOnce, WebSocketSettings.Read,
        (options, _) => new WebSocketConnector(options.SettingsAs<WebSocketSettings>()));

    public SourceDelivery Delivery => SourceDelivery.AtMostOnce;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        ConnectorLoop.Run(context, (writer, stopping) => RunAsync(context, writer, stopping));

    /// <summary>A connection up this long (or that brought a message) has proved itself: the backoff starts over.</summary>
    private static readonly TimeSpan ProvenAfter = TimeSpan.FromSeconds(5);

    /// <summary>How often the connection is looked at for one the client has lost without re-establishing it.</summary>
    private static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(500);

    private async Task RunAsync(SourceContext context, ChannelWriter<SourceMessage> writer, CancellationToken stopping)
    {
        var telemetry = context.Telemetry;
        var subject = WebSettings.Shown(settings.Url);
        // Only the connection factory below uses it, and the client calls that for one attempt at a time.
        var backoff = new ReconnectBackoff(settings.MaxReconnectDelay);
        var attempts = 0;
        long connectedAt = 0;
        var proven = false;
        var connecting = 0;
        var connectedBefore = false;

        // Every attempt but the first waits here, whatever ended the one before: a failed connect, a close by the
        // server, a lost connection, an unanswered ping or ReconnectTimeout. The client's own waits are off.
        async Task<WebSocket> ConnectAfterBackoffAsync(Uri url, CancellationToken cancellationToken)
        {
            Volatile.Write(ref connecting, 1);
            try
            {
                if (attempts++ > 0)
                {
                    var upSince = Interlocked.Exchange(ref connectedAt, 0);
                    if (Volatile.Read(ref proven) || (upSince != 0 && Environment.TickCount64 - upSince >= (long)ProvenAfter.TotalMilliseconds))
                        backoff.Reset();
                    Volatile.Write(ref proven, false);
                    await Task.Delay(backoff.Next(), cancellationToken).ConfigureAwait(false);
                }
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
                attempt.CancelAfter(settings.ConnectTimeout);
                return await ConnectAsync(url, attempt.Token).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref connecting, 0);
            }
        }

        using var client = new WebsocketClient(settings.Url, null, ConnectAfterBackoffAsync)
        {
            Name = context.Name,
            // Text arrives as its UTF-8 bytes, as the decoder wants it: no string in between.
            IsTextMessageConversionEnabled = false,
            ReconnectTimeout = settings.ReconnectTimeout,
            // The factory waits before each attempt (and applies ConnectTimeout itself, after that wait).
            ErrorReconnectTimeout = TimeSpan.Zero,
            LostReconnectTimeout = null,
            ConnectTimeout = settings.ConnectTimeout + settings.MaxReconnectDelay + TimeSpan.FromSeconds(1),
        };
        // The client reports each event synchronously from its own connect and receive loops, one at a time.
        using var lost = client.DisconnectionHappened.Subscribe(info =>
        {
            if (stopping.IsCancellationRequested) return;
            // A close from the server is taken as a lost connection: the client's own path for it (answer the close,
            // then reconnect) can leave it stopped when the close comes right after the connect.
            if (info.Type == DisconnectionType.ByServer) info.CancelClosing = true;
            telemetry.SetState(SourceState.BackingOff, Describe(info));
        });
        using var connected = client.ReconnectionHappened.Subscribe(_ =>
        {
            Volatile.Write(ref connectedAt, Environment.TickCount64);
            if (connectedBefore) telemetry.Reconnected();
            connectedBefore = true;
            foreach (var message in settings.Subscribe) client.Send(message);
            telemetry.SetState(SourceState.Connected);
        });
        using var received = client.MessageReceived.Subscribe(m =>
        {
            if (!Volatile.Read(ref proven)) Volatile.Write(ref proven, true);
            var payload = m.Binary ?? (m.Text is { } text ? Encoding.UTF8.GetBytes(text) : m.Stream?.ToArray() ?? []);
            var message = new SourceMessage(payload, SourceMessage.Now(), subject);
            if (writer.TryWrite(message)) return;
            // The source is behind: hold this receive loop (and so the server, through TCP) until there is room.
            try
            {
                writer.WriteAsync(message, stopping).AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
            }
        });

        await client.Start().ConfigureAwait(false);
        try
        {
            // The client skips the reconnect when a connection ends while the previous reconnect is still being
            // reported: a connection that is neither open nor being made, twice in a row, is made again here.
            var stuck = 0;
            while (true)
            {
                await Task.Delay(WatchInterval, stopping).ConfigureAwait(false);
                if (client.NativeClient?.State == WebSocketState.Open || Volatile.Read(ref connecting) == 1)
                {
                    stuck = 0;
                    continue;
                }
                if (++stuck < 2) continue;
                stuck = 0;
                telemetry.SetState(SourceState.BackingOff, "connection lost");
                _ = client.Reconnect();
            }
        }
        catch (OperationCanceledException)
        {
        }
        using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await client.Stop(WebSocketCloseStatus.NormalClosure, "stopping").WaitAsync(closing.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Gone already, or not answering the close: disposing aborts it.
        }
    }

    private async Task<WebSocket> ConnectAsync(Uri url, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        foreach (var (name, value) in settings.Headers) socket.Options.SetRequestHeader(name, value);
        if (settings.Authorization is not null) socket.Options.SetRequestHeader("Authorization", settings.Authorization);
        socket.Options.KeepAliveInterval = settings.PingInterval;
        // A ping unanswered for this long aborts the connection (then it is re-established).
        if (settings.PingInterval > TimeSpan.Zero) socket.Options.KeepAliveTimeout = settings.PongTimeout > TimeSpan.Zero ? settings.PongTimeout : Timeout.InfiniteTimeSpan;
        try
        {
            await socket.ConnectAsync(url, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Describe(DisconnectionInfo info) => info.Type switch
    {
        DisconnectionType.Error => "could not connect: " + (info.Exception?.GetBaseException().Message ?? "unknown error"),
        DisconnectionType.NoMessageReceived => "no message within ReconnectTimeout",
        DisconnectionType.ByServer => "closed by the server" + (info.CloseStatusDescription is { Length: > 0 } d ? ": " + d : ""),
        _ => "connection lost" + (info.Exception is { } e ? ": " + e.GetBaseException().Message : ""),
    };
}
