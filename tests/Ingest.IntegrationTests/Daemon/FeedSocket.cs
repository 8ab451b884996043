using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace Ingest.IntegrationTests.Daemon;

/// <summary>A real WebSocket client of the daemon's live feed, as the feed tests use it.</summary>
public static class FeedSocket
{
    public static async Task<ClientWebSocket> ConnectAsync(DaemonProcess daemon, string query = "")
    {
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{daemon.Port}/ws{query}"), CancellationToken.None);
        return ws;
    }

    public static Task SendAsync(ClientWebSocket ws, object message) =>
        ws.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next message as JSON; a close from the daemon is a <see cref="WebSocketException"/> naming its status and reason.</summary>
    public static async Task<JsonElement> ReceiveAsync(ClientWebSocket ws, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await ws.ReceiveAsync(buffer, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close) throw new WebSocketException($"closed: {result.CloseStatus} {result.CloseStatusDescription}");
            message.Write(buffer, 0, result.Count);
        } while (!result.EndOfMessage);
        return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
    }

    public static async Task<HttpStatusCode> WriteAsync(DaemonProcess daemon, string body, string db = "feed")
    {
        using var r = await daemon.Client.PostAsync($"write?db={db}", new StringContent(body));
        return r.StatusCode;
    }
}
