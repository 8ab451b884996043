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
/// At most once: what arrives while the connection is down is not seen. Lost connections are re-established at
/// once, failed attempts again after <see cref="ReconnectBackoff"/>.
/// </summary>
internal sealed class WebSocketConnector(WebSocketSettings settings) : ISourceConnector
{
    public static SourceType Type { get; } = new("websocket", SourceDelivery.AtMostOnce, WebSocketSettings.Read,
        (options, _) => new WebSocketConnector(options.SettingsAs<WebSocketSettings>()));

    public SourceDelivery Delivery => SourceDelivery.AtMostOnce;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        ConnectorLoop.Run(context, (writer, stopping) => RunAsync(context, writer, stopping));

    private async Task RunAsync(SourceContext context, ChannelWriter<SourceMessage> writer, CancellationToken stopping)
    {
        var telemetry = context.Telemetry;
        var subject = WebSettings.Shown(settings.Url);
        var backoff = new ReconnectBackoff(settings.MaxReconnectDelay);
        var connectedBefore = false;

        using var client = new WebsocketClient(settings.Url, null, ConnectAsync)
        {
            Name = context.Name,
            // Text arrives as its UTF-8 bytes, as the decoder wants it: no string in between.
            IsTextMessageConversionEnabled = false,
            ReconnectTimeout = settings.ReconnectTimeout,
            ErrorReconnectTimeout = backoff.Next(),
            LostReconnectTimeout = null,
            ConnectTimeout = settings.ConnectTimeout,
        };
        // The client reports each event synchronously from its own connect and receive loops, one at a time.
        using var lost = client.DisconnectionHappened.Subscribe(info =>
        {
            if (stopping.IsCancellationRequested) return;
            // Read by the client right after this call, before it waits for the next attempt.
            if (info.Type == DisconnectionType.Error) client.ErrorReconnectTimeout = backoff.Next();
            telemetry.SetState(SourceState.BackingOff, Describe(info));
        });
        using var connected = client.ReconnectionHappened.Subscribe(_ =>
        {
            backoff.Reset();
            if (connectedBefore) telemetry.Reconnected();
            connectedBefore = true;
            foreach (var message in settings.Subscribe) client.Send(message);
            telemetry.SetState(SourceState.Connected);
        });
        using var received = client.MessageReceived.Subscribe(m =>
        {
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
            await Task.Delay(Timeout.Infinite, stopping).ConfigureAwait(false);
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
