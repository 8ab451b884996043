using System.Net;
using System.Net.WebSockets;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using static Ingest.IntegrationTests.Daemon.FeedSocket;

namespace Ingest.IntegrationTests;

/// <summary>Malformed feed requests, each over the same real WebSocket: an error message, and the connection stays.</summary>
public class FeedRequestErrorTests
{
    private static readonly string LongPattern = new('a', 1025);

    /// <summary>What is sent (as a text frame unless said otherwise) and a part of the error message it must get.</summary>
    public static readonly (string Name, string Request, string Expected)[] Cases =
    [
        ("array", "[1,2]", "a request is a JSON object with an op, not an array"),
        ("string", "\"subscribe\"", "a request is a JSON object with an op, not 'subscribe'"),
        ("number", "42", "not the number 42"),
        ("null", "null", "not null"),
        ("no op", "{}", "op is missing"),
        ("numeric op", """{"op":5}""", "op must be subscribe or unsubscribe, not the number 5"),
        ("null op", """{"op":null}""", "op must be subscribe or unsubscribe, not null"),
        ("object op", """{"op":{"x":1}}""", "op must be subscribe or unsubscribe, not an object"),
        ("unknown op", """{"op":"publish"}""", "op must be subscribe or unsubscribe, not 'publish'"),
        ("string sub", """{"op":"unsubscribe","sub":"x"}""", "sub must be the number the subscribed message gave, not 'x'"),
        ("no sub", """{"op":"unsubscribe"}""", "sub is missing"),
        ("huge sub", """{"op":"unsubscribe","sub":1e400}""", "sub must be the number the subscribed message gave, not the number 1e400"),
        ("long sub", """{"op":"unsubscribe","sub":123456789012345678901234567890}""", "not the number 123456789012345678901234567890"),
        ("fractional sub", """{"op":"unsubscribe","sub":1.5}""", "not the number 1.5"),
        ("unknown sub", """{"op":"unsubscribe","sub":77}""", "no such subscription"),
        ("extra on unsubscribe", """{"op":"unsubscribe","sub":1,"all":true}""", "unknown property 'all'"),
        ("no channel", """{"op":"subscribe"}""", "channel is missing"),
        ("numeric channel", """{"op":"subscribe","channel":7}""", "channel must be points, aggregates or alerts, not the number 7"),
        ("unknown channel", """{"op":"subscribe","channel":"everything"}""", "not 'everything'"),
        ("numeric measurement", """{"op":"subscribe","channel":"points","measurement":5}""", "measurement must be a string (globs * and ? allowed), not the number 5"),
        ("huge measurement number", """{"op":"subscribe","channel":"points","measurement":1e99999}""", "measurement must be a string"),
        ("null measurement", """{"op":"subscribe","channel":"points","measurement":null}""", "measurement must be a string (globs * and ? allowed), not null"),
        ("string tags", """{"op":"subscribe","channel":"points","tags":"host=a"}""", "tags must be an object"),
        ("numeric tag value", """{"op":"subscribe","channel":"points","tags":{"host":1}}""", "tags.host must be a string, not the number 1"),
        ("string fields", """{"op":"subscribe","channel":"points","fields":"v"}""", "fields must be an array"),
        ("numeric field", """{"op":"subscribe","channel":"points","fields":["v",2]}""", "fields[1] must be a string, not the number 2"),
        ("aggregates without tier", """{"op":"subscribe","channel":"aggregates"}""", "needs a tier"),
        ("numeric tier", """{"op":"subscribe","channel":"aggregates","tier":60}""", "tier must be a tier's name such as \"1m\", not the number 60"),
        ("tier on points", """{"op":"subscribe","channel":"points","tier":"1m"}""", "tier applies to the aggregates channel only"),
        ("misspelt filter", """{"op":"subscribe","channel":"points","measurment":"cpu"}""", "unknown property 'measurment'"),
        ("long measurement", $$"""{"op":"subscribe","channel":"points","measurement":"{{LongPattern}}"}""", "measurement is 1025 characters long; patterns are limited to 1024"),
        ("long tag pattern", $$$"""{"op":"subscribe","channel":"points","tags":{"host":"*{{{LongPattern}}}"}}""", "tags.host is 1026 characters long"),
        ("long field pattern", $$"""{"op":"subscribe","channel":"points","fields":["{{LongPattern}}"]}""", "fields[0] is 1025 characters long"),
        ("invalid JSON", """{"op":"subscribe",""", "not JSON"),
        ("trailing garbage", """{"op":"subscribe"} x""", "not JSON"),
        ("empty", "", "not JSON"),
        ("too deep", new string('[', 200) + new string(']', 200), "not JSON"),
        ("binary frame", "binary:" + """{"op":"subscribe","channel":"points"}""", "binary messages are not taken"),
        ("oversized", """{"op":"subscribe","channel":"points","measurement":"*""" + new string('x', 100_000) + "\"}", "request too large: requests are limited to 64 KB"),
        ("oversized in fragments", "fragments:" + new string(' ', 200_000) + "{}", "request too large"),
    ];

    [Fact]
    public async Task Every_malformed_request_gets_an_error_message_and_the_connection_stays_open()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string> { ["Influx:Url"] = "http://127.0.0.1:9" });
        using var ws = await ConnectAsync(daemon);
        var failures = new List<string>();
        foreach (var (name, request, expected) in Cases)
        {
            await SendRawAsync(ws, request);
            try
            {
                var answer = await ReceiveAsync(ws);
                var type = answer.GetProperty("type").GetString();
                var message = answer.TryGetProperty("message", out var m) ? m.GetString() : null;
                if (type != "error" || message is null || !message.Contains(expected, StringComparison.Ordinal))
                    failures.Add($"{name}: got {answer}");
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                failures.Add($"{name}: connection lost ({e.Message})");
                break;
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + daemon.Output);

        // Still the same connection, and it works: a subscription gets its points.
        Assert.Equal(WebSocketState.Open, ws.State);
        await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = "after" });
        Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        Assert.Equal("snapshot", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "after v=1 1"));
        var update = await ReceiveAsync(ws);
        Assert.Equal("points", update.GetProperty("type").GetString());
        Assert.DoesNotContain("Unhandled", daemon.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_connection_holds_at_most_Feed_MaxSubscriptions_and_says_so_when_asked_for_more()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Feed:MaxSubscriptions"] = "3",
        });
        using var ws = await ConnectAsync(daemon);
        var ids = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = $"m{i}" });
            var subscribed = await ReceiveAsync(ws);
            Assert.Equal("subscribed", subscribed.GetProperty("type").GetString());
            ids.Add(subscribed.GetProperty("sub").GetInt32());
            Assert.Equal("snapshot", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        }
        await SendAsync(ws, new { op = "subscribe", channel = "alerts" });
        var refused = await ReceiveAsync(ws);
        Assert.Equal("error", refused.GetProperty("type").GetString());
        Assert.Contains("3 subscriptions, the most Feed:MaxSubscriptions allows", refused.GetProperty("message").GetString());

        // One fewer, and there is room again.
        await SendAsync(ws, new { op = "unsubscribe", sub = ids[0] });
        Assert.Equal("unsubscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        await SendAsync(ws, new { op = "subscribe", channel = "alerts" });
        Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
    }

    private static async Task SendRawAsync(ClientWebSocket ws, string request)
    {
        if (request.StartsWith("binary:", StringComparison.Ordinal))
        {
            await ws.SendAsync(Encoding.UTF8.GetBytes(request["binary:".Length..]), WebSocketMessageType.Binary, true, CancellationToken.None);
            return;
        }
        if (request.StartsWith("fragments:", StringComparison.Ordinal))
        {
            // One message in frames of 16 KB: the limit holds for the whole message, not per frame.
            var bytes = Encoding.UTF8.GetBytes(request["fragments:".Length..]);
            for (var at = 0; at < bytes.Length; at += 16_384)
            {
                var n = Math.Min(16_384, bytes.Length - at);
                await ws.SendAsync(bytes.AsMemory(at, n), WebSocketMessageType.Text, at + n == bytes.Length, CancellationToken.None);
            }
            return;
        }
        await ws.SendAsync(Encoding.UTF8.GetBytes(request), WebSocketMessageType.Text, true, CancellationToken.None);
    }
}
