using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using static Ingest.IntegrationTests.Daemon.FeedSocket;

namespace Ingest.IntegrationTests;

/// <summary>The live feed at <c>/ws</c>, with a real WebSocket client against the real daemon.</summary>
public class FeedTests
{
    [Fact]
    public async Task Subscribers_get_a_snapshot_then_only_the_points_and_fields_their_filters_match()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Thresholds:Rules:0:Name"] = "hot", ["Thresholds:Rules:0:Measurement"] = "feedm",
            ["Thresholds:Rules:0:Field"] = "v", ["Thresholds:Rules:0:Crit"] = "90",
        });
        var daemon = stack.Daemon;
        // An alert that is active before anyone subscribes must be in the alerts snapshot.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "feedm,host=c v=95 1000"));

        using var points = await ConnectAsync(daemon);
        await SendAsync(points, new { op = "subscribe", channel = "points", measurement = "feed*", tags = new { host = "a" }, fields = new[] { "v" } });
        var subscribed = await ReceiveAsync(points);
        Assert.Equal("subscribed", subscribed.GetProperty("type").GetString());
        var sub = subscribed.GetProperty("sub").GetInt32();
        Assert.Equal("snapshot", (await ReceiveAsync(points)).GetProperty("type").GetString());

        using var alerts = await ConnectAsync(daemon);
        await SendAsync(alerts, new { op = "subscribe", channel = "alerts" });
        Assert.Equal("subscribed", (await ReceiveAsync(alerts)).GetProperty("type").GetString());
        var snapshot = await ReceiveAsync(alerts);
        Assert.Equal("snapshot", snapshot.GetProperty("type").GetString());
        var active = Assert.Single(snapshot.GetProperty("alerts").EnumerateArray());
        Assert.Equal("feedm,host=c", active.GetProperty("seriesKey").GetString());

        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "feedm,host=b v=1,w=2 2000\nother,host=a v=3 2000\nfeedm,host=a v=4,w=5 2000\nfeedm,host=a w=6 3000"));
        var update = await ReceiveAsync(points);
        Assert.Equal("points", update.GetProperty("type").GetString());
        Assert.Equal(sub, update.GetProperty("sub").GetInt32());
        var point = Assert.Single(update.GetProperty("points").EnumerateArray());
        Assert.Equal("feedm", point.GetProperty("measurement").GetString());
        Assert.Equal("a", point.GetProperty("tags").GetProperty("host").GetString());
        Assert.Equal(4, point.GetProperty("fields").GetProperty("v").GetDouble());
        Assert.False(point.GetProperty("fields").TryGetProperty("w", out _));
        Assert.Equal(2000, point.GetProperty("time").GetInt64());

        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "feedm,host=d v=99 5000"));
        var fired = await ReceiveAsync(alerts);
        Assert.Equal("alerts", fired.GetProperty("type").GetString());
        var e = Assert.Single(fired.GetProperty("events").EnumerateArray());
        Assert.Equal(("feedm,host=d", "crit", "ok"), (e.GetProperty("seriesKey").GetString(), e.GetProperty("level").GetString(), e.GetProperty("previous").GetString()));

        // Unsubscribed: nothing more arrives for that subscription.
        await SendAsync(points, new { op = "unsubscribe", sub });
        Assert.Equal("unsubscribed", (await ReceiveAsync(points)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "feedm,host=a v=7 6000"));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReceiveAsync(points, TimeSpan.FromMilliseconds(700)));

        // A bad request gets an error message, and the connection stays usable.
        using var bad = await ConnectAsync(daemon);
        await SendAsync(bad, new { op = "subscribe", channel = "everything" });
        Assert.Equal("error", (await ReceiveAsync(bad)).GetProperty("type").GetString());
    }

    /// <summary>
    /// One alert looks the same wherever it is read: <c>GET /api/alerts</c> and the feed's alerts snapshot give the
    /// same object (tags as an object, as points carry them), and a live event names the alert with the same
    /// properties, its <c>time</c> being the <c>since</c> of the level it moved to.
    /// </summary>
    [Fact]
    public async Task An_alert_has_one_shape_in_the_api_the_feed_snapshot_and_the_feed_events()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Thresholds:Rules:0:Name"] = "hot", ["Thresholds:Rules:0:Measurement"] = "shapem",
            ["Thresholds:Rules:0:Field"] = "v", ["Thresholds:Rules:0:Crit"] = "90",
            ["Thresholds:Rules:1:Name"] = "loud", ["Thresholds:Rules:1:Measurement"] = "shapem",
            ["Thresholds:Rules:1:Field"] = "w", ["Thresholds:Rules:1:Crit"] = "90",
        });
        var daemon = stack.Daemon;
        // Both rules fire on one series before anyone subscribes; the write is answered once they have.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "shapem,host=c,dc=x v=95,w=96 1000"));
        var hot = await ActiveAsync(daemon, "hot", "shapem,dc=x,host=c");
        Assert.True(hot.GetProperty("tags").ValueKind == JsonValueKind.Object, $"GET /api/alerts: tags should be an object like {{\"host\":\"c\"}}: {hot}");
        Assert.Equal(new Dictionary<string, string> { ["dc"] = "x", ["host"] = "c" }, Tags(hot));
        Assert.Equal("shapem", hot.GetProperty("measurement").GetString());
        Assert.Equal("v", hot.GetProperty("field").GetString());
        Assert.Equal(1000, hot.GetProperty("since").GetInt64());
        Assert.Equal(95, hot.GetProperty("value").GetDouble());

        using (var ack = await daemon.Client.PostAsync($"api/alerts/{hot.GetProperty("id").GetString()}/ack?by=tester", new ByteArrayContent([])))
            Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        hot = await ActiveAsync(daemon, "hot", "shapem,dc=x,host=c");
        Assert.Equal("tester", hot.GetProperty("acknowledgedBy").GetString());
        Assert.True(DateTimeOffset.TryParse(hot.GetProperty("acknowledgedAt").GetString(), out _), hot.ToString());
        var loud = await ActiveAsync(daemon, "loud", "shapem,dc=x,host=c");
        Assert.Equal(JsonValueKind.Null, loud.GetProperty("acknowledgedBy").ValueKind);
        Assert.Equal(JsonValueKind.Null, loud.GetProperty("acknowledgedAt").ValueKind);

        // The snapshot of a new subscriber lists the active alerts as GET /api/alerts does, filtered as its
        // events are: by series and by the rule's field.
        using var ws = await ConnectAsync(daemon);
        await SendAsync(ws, new { op = "subscribe", channel = "alerts", measurement = "shape*", tags = new { dc = "x" }, fields = new[] { "v" } });
        Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        var snapshot = await ReceiveAsync(ws);
        Assert.Equal("snapshot", snapshot.GetProperty("type").GetString());
        var listed = Assert.Single(snapshot.GetProperty("alerts").EnumerateArray());
        Assert.True(JsonElement.DeepEquals(hot, listed), $"the snapshot's alert differs from GET /api/alerts':\n snapshot: {listed}\n api:      {hot}");

        // A live event for a new series: the properties that name the alert are those of GET /api/alerts' entry.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "shapem,host=d,dc=x v=99,w=1 3000"));
        var fired = await ReceiveAsync(ws);
        Assert.Equal("alerts", fired.GetProperty("type").GetString());
        var e = Assert.Single(fired.GetProperty("events").EnumerateArray());
        var entry = await ActiveAsync(daemon, "hot", "shapem,dc=x,host=d");
        foreach (var name in new[] { "id", "rule", "database", "seriesKey", "measurement", "tags", "field", "level", "value" })
            Assert.True(JsonElement.DeepEquals(e.GetProperty(name), entry.GetProperty(name)), $"{name}: event {e.GetProperty(name)}, GET /api/alerts {entry.GetProperty(name)}");
        Assert.Equal(e.GetProperty("time").GetInt64(), entry.GetProperty("since").GetInt64());
        var eventOnly = e.EnumerateObject().Select(p => p.Name).Except(entry.EnumerateObject().Select(p => p.Name)).Order(StringComparer.Ordinal);
        Assert.Equal(["message", "previous", "time"], eventOnly);
    }

    /// <summary>The entry of GET /api/alerts for one rule and series.</summary>
    private static async Task<JsonElement> ActiveAsync(DaemonProcess daemon, string rule, string seriesKey)
    {
        var body = await daemon.Client.GetStringAsync("api/alerts");
        var all = JsonDocument.Parse(body).RootElement.Clone();
        return all.EnumerateArray().SingleOrDefault(a => a.GetProperty("rule").GetString() == rule && a.GetProperty("seriesKey").GetString() == seriesKey) is { ValueKind: JsonValueKind.Object } found
            ? found
            : throw new Xunit.Sdk.XunitException($"GET /api/alerts lists no {rule} alert on {seriesKey}: {body}");
    }

    private static Dictionary<string, string> Tags(JsonElement alert) =>
        alert.GetProperty("tags").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    [Fact]
    public async Task A_slow_client_is_conflated_then_disconnected_while_a_fast_client_and_ingest_keep_going()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Feed:ClientQueue"] = "4",
            ["Feed:SlowClientTimeout"] = "1s",
        });
        using var fast = await ConnectAsync(daemon);
        using var slow = await ConnectAsync(daemon);
        foreach (var ws in new[] { fast, slow })
        {
            await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = "burst" });
            await ReceiveAsync(ws);
            await ReceiveAsync(ws);
        }

        var fastReceived = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var m = await ReceiveAsync(fast, TimeSpan.FromSeconds(5));
                    if (m.GetProperty("type").GetString() is "points" or "conflated") Interlocked.Increment(ref fastReceived);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        // 1 000 series a body, ~150 bytes of JSON a point: more than the slow client's socket buffers hold (~20 MB in all).
        var statuses = new List<HttpStatusCode>();
        var body = new StringBuilder();
        for (var round = 0; round < 150; round++)
        {
            body.Clear();
            for (var s = 0; s < 1000; s++) body.Append($"burst,host=h{s} v={round},pad=\"{new string('x', 100)}\" {round + 1}\n");
            statuses.Add(await WriteAsync(daemon, body.ToString()));
            await Task.Delay(20);
        }

        // The slow client now reads: after what was buffered it finds the connection closed by the daemon.
        string? closedWith = null;
        try
        {
            while (true) await ReceiveAsync(slow, TimeSpan.FromSeconds(10));
        }
        catch (WebSocketException e)
        {
            closedWith = e.Message;
        }
        stop.Cancel();
        await reader;

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.NoContent, s));
        Assert.NotNull(closedWith);
        Assert.True(fastReceived >= 100, $"the fast client got only {fastReceived} of 150 updates");
        var metrics = await daemon.Client.GetStringAsync("metrics");
        Assert.Matches(@"ingest_feed_clients_disconnected_slow_total [1-9]", metrics);
    }

    [Fact]
    public async Task The_feed_needs_a_read_token_takes_it_as_a_query_parameter_and_checks_the_origin()
    {
        var (_, hash) = await DaemonProcess.RunToExitAsync("hash-token", "feed-secret");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "dash", ["Auth:Tokens:0:Sha256"] = hash.Trim(), ["Auth:Tokens:0:Scopes:0"] = "read",
            ["Feed:AllowedOrigins:0"] = "https://dash.example",
        });
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => ConnectAsync(daemon));
        Assert.Contains("401", refused.Message);

        using var allowed = await ConnectAsync(daemon, "?token=feed-secret");
        Assert.Equal(WebSocketState.Open, allowed.State);

        using var browser = new ClientWebSocket();
        browser.Options.SetRequestHeader("Origin", "https://evil.example");
        var foreign = await Assert.ThrowsAsync<WebSocketException>(() =>
            browser.ConnectAsync(new Uri($"ws://127.0.0.1:{daemon.Port}/ws?token=feed-secret"), CancellationToken.None));
        Assert.Contains("403", foreign.Message);
    }

    [Fact]
    public async Task Snapshot_series_and_the_feed_snapshot_come_from_the_live_state()
    {
        await using var stack = await IngestStack.StartAsync();
        var daemon = stack.Daemon;
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "livem,host=a v=1,s=\"x\" 1000\nlivem,host=a v=2 2000\nlivem,host=b v=3,ok=true 1500\nother v=4i 1000"));
        JsonElement snapshot = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            snapshot = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/snapshot?measurement=live*&tag=host:a")).RootElement.Clone();
            return snapshot.GetArrayLength() == 1;
        }, TimeSpan.FromSeconds(5)), snapshot.ToString());
        var a = snapshot[0];
        Assert.Equal("livem,host=a", a.GetProperty("seriesKey").GetString());
        Assert.Equal(2, a.GetProperty("fields").GetProperty("v").GetProperty("value").GetDouble());
        Assert.Equal(2000, a.GetProperty("fields").GetProperty("v").GetProperty("time").GetInt64());
        Assert.Equal("x", a.GetProperty("fields").GetProperty("s").GetProperty("value").GetString());

        var onlyOk = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/snapshot?field=ok")).RootElement;
        Assert.Equal("livem,host=b", Assert.Single(onlyOk.EnumerateArray()).GetProperty("seriesKey").GetString());
        var series = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/series")).RootElement;
        Assert.Equal(["livem,host=a", "livem,host=b", "other"], series.EnumerateArray().Select(x => x.GetProperty("seriesKey").GetString()).Order(StringComparer.Ordinal));

        using var ws = await ConnectAsync(daemon);
        await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = "livem", fields = new[] { "v" } });
        Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        var first = await ReceiveAsync(ws);
        Assert.Equal("snapshot", first.GetProperty("type").GetString());
        var points = first.GetProperty("points").EnumerateArray().ToDictionary(p => p.GetProperty("tags").GetProperty("host").GetString()!, p => p.GetProperty("fields").GetProperty("v").GetDouble());
        Assert.Equal(new Dictionary<string, double> { ["a"] = 2, ["b"] = 3 }, points);
    }

    [Fact]
    public async Task Without_the_live_state_snapshot_and_series_answer_404_not_enabled()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Live:Enabled"] = "false" });
        var daemon = stack.Daemon;
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "livem,host=a v=1 1000"));
        foreach (var path in new[] { "api/snapshot", "api/series" })
        {
            using var response = await daemon.Client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{path}: {(int)response.StatusCode} {body}");
            Assert.Equal("not_enabled", JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
        }
    }
}
