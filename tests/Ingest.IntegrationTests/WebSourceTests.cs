using System.Diagnostics;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The daemon with websocket, sse and http sources reading from upstream servers hosted in the test (Kestrel on
/// loopback), in front of a real influxd. Each source writes to a database of its own.
/// </summary>
public sealed class WebSourcesFixture : IAsyncLifetime
{
    public const string Token = "s3cret-bearer-7f2c";
    public const string Password = "pa55-poll-9e1d";

    public WebUpstream Upstream { get; private set; } = null!;
    public IngestStack Stack { get; private set; } = null!;
    public string Suffix { get; } = Guid.NewGuid().ToString("N")[..8];

    public string Db(string source) => $"web_{source}_{Suffix}";

    public async Task InitializeAsync()
    {
        Upstream = await WebUpstream.StartAsync();
        Upstream.Poll("main").Set("");
        Upstream.Poll("modified").WithETag = false;
        Upstream.Poll("modified").Set("pollmod,k=a v=1");
        Upstream.Socket("closing").CloseAtOnce = true;
        Upstream.Socket("deaf").Deaf = true;
        Upstream.Stream("idle").Greeting = "id: 7\ndata: sseidle,k=a v=1 1700000000000000000\n\n";
        var s = new Dictionary<string, string>
        {
            ["Sources:ws:Type"] = "websocket",
            ["Sources:ws:Url"] = Upstream.WsUrl + "/ws/main",
            ["Sources:ws:Headers:X-Tenant"] = "t1",
            ["Sources:ws:BearerToken"] = Token,
            ["Sources:ws:Subscribe:0"] = "subscribe cpu",
            ["Sources:ws:Subscribe:1"] = "subscribe mem",
            ["Sources:ws:PingInterval"] = "1s",
            ["Sources:ws:PongTimeout"] = "1s",
            ["Sources:ws:Database"] = Db("ws"),
            ["Sources:wsbad:Type"] = "websocket",
            ["Sources:wsbad:Url"] = Upstream.WsUrl + "/ws/bad",
            ["Sources:wsbad:Database"] = Db("wsbad"),
            ["Sources:wsclosing:Type"] = "websocket",
            ["Sources:wsclosing:Url"] = Upstream.WsUrl + "/ws/closing",
            ["Sources:wsclosing:Database"] = Db("wsclosing"),
            ["Sources:wsdeaf:Type"] = "websocket",
            ["Sources:wsdeaf:Url"] = Upstream.WsUrl + "/ws/deaf",
            ["Sources:wsdeaf:PingInterval"] = "200ms",
            ["Sources:wsdeaf:PongTimeout"] = "500ms",
            ["Sources:wsdeaf:Database"] = Db("wsdeaf"),
            ["Sources:sseidle:Type"] = "sse",
            ["Sources:sseidle:Url"] = Upstream.HttpUrl + "/sse/idle",
            ["Sources:sseidle:IdleTimeout"] = "1s",
            ["Sources:sseidle:Database"] = Db("sseidle"),
            ["Sources:sse:Type"] = "sse",
            ["Sources:sse:Url"] = Upstream.HttpUrl + "/sse/main",
            ["Sources:sse:Events:0"] = "message",
            ["Sources:sse:Events:1"] = "metrics",
            ["Sources:sse:BearerToken"] = Token,
            ["Sources:sse:Database"] = Db("sse"),
            ["Sources:poll:Type"] = "http",
            ["Sources:poll:Url"] = Upstream.HttpUrl + "/poll/main",
            ["Sources:poll:Interval"] = "200ms",
            ["Sources:poll:BearerToken"] = Token,
            ["Sources:poll:Database"] = Db("poll"),
            ["Sources:pollmod:Type"] = "http",
            ["Sources:pollmod:Url"] = Upstream.HttpUrl + "/poll/modified",
            ["Sources:pollmod:Method"] = "POST",
            ["Sources:pollmod:Body"] = """{"query":"all"}""",
            ["Sources:pollmod:Username"] = "reader",
            ["Sources:pollmod:Password"] = Password,
            ["Sources:pollmod:Interval"] = "200ms",
            ["Sources:pollmod:Database"] = Db("pollmod"),
        };
        Stack = await IngestStack.StartAsync(s);
    }

    public async Task DisposeAsync()
    {
        if (Stack is not null) await Stack.DisposeAsync();
        if (Upstream is not null) await Upstream.DisposeAsync();
    }
}

public class WebSourceTests(WebSourcesFixture fixture) : IClassFixture<WebSourcesFixture>
{
    private static readonly TimeSpan Landing = TimeSpan.FromSeconds(20);
    private IngestStack Stack => fixture.Stack;
    private WebUpstream Upstream => fixture.Upstream;

    [Fact]
    public async Task WebSocket_messages_land_with_their_measurement_tags_fields_and_timestamps_and_the_subscriptions_were_sent()
    {
        var ws = Upstream.Socket("main");
        await WaitForSubscriptionsAsync(ws, ws.Connections);
        Assert.Equal("t1", ws.LastHeaders!["X-Tenant"].ToString());
        Assert.Equal("Bearer " + WebSourcesFixture.Token, ws.LastHeaders!["Authorization"].ToString());

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        await ws.SendAsync("wsm,host=a,dc=eu v=1.5,n=3i,s=\"x y\",ok=true 1700000000000000000\nwsm,host=b,dc=eu v=2.5,n=4i,s=\"z\",ok=false 1700000001000000000");
        await ws.SendAsync("wsm,host=c,dc=us v=3.5,n=5i,s=\"w\",ok=true", System.Net.WebSockets.WebSocketMessageType.Binary);
        var db = fixture.Db("ws");
        Assert.Equal(3, await Stack.Influx.WaitForCountAsync(db, "wsm", 3, Landing));

        var rows = (await InfluxRows.QueryAsync(Stack.Influx, db, "SELECT * FROM wsm")).Single();
        string[] columns = ["time", "dc", "host", "n", "ok", "s", "v"];
        Assert.Equal(columns, rows.Columns);
        var byHost = rows.Values.ToDictionary(r => r[rows.Column("host")].GetString()!);
        Assert.Equal(1700000000000000000L, byHost["a"][0].GetInt64());
        Assert.Equal(1700000001000000000L, byHost["b"][0].GetInt64());
        Assert.Equal("eu", byHost["a"][rows.Column("dc")].GetString());
        Assert.Equal(1.5, byHost["a"][rows.Column("v")].GetDouble());
        Assert.Equal(3, byHost["a"][rows.Column("n")].GetInt64());
        Assert.Equal("x y", byHost["a"][rows.Column("s")].GetString());
        Assert.True(byHost["a"][rows.Column("ok")].GetBoolean());
        Assert.False(byHost["b"][rows.Column("ok")].GetBoolean());
        // No timestamp: the arrival time.
        var arrived = byHost["c"][0].GetInt64();
        Assert.InRange(arrived, before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000);
        Assert.Equal("us", byHost["c"][rows.Column("dc")].GetString());
        Assert.DoesNotContain(WebSourcesFixture.Token, Stack.Daemon.Output);
    }

    [Fact]
    public async Task A_WebSocket_source_resumes_within_2_s_of_its_servers_return_sends_its_subscriptions_again_and_counts_the_reconnect()
    {
        var ws = Upstream.Socket("main");
        await WaitForSubscriptionsAsync(ws, ws.Connections);
        var reconnects = await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"ws\"}");
        var connections = ws.Connections;

        await Upstream.StopAsync();
        // Long enough for the attempts to have backed off to their longest wait (with steps doubling past 1.5 s,
        // the attempt after this one would come more than 2 s after the server's return).
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Equal("backing_off", await StateAsync("ws"));
        var back = Stopwatch.StartNew();
        await Upstream.StartAgainAsync();
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(ws.Connections > connections), TimeSpan.FromSeconds(10), pollMs: 10),
            "the source did not connect again");
        var resumedAfter = (ws.LastConnectedAt - (DateTime.UtcNow - back.Elapsed)).TotalSeconds;
        Assert.True(resumedAfter < 2.0, $"connected again {resumedAfter:F2} s after the server returned");
        await WaitForSubscriptionsAsync(ws, ws.Connections);

        var db = fixture.Db("ws");
        await ws.SendAsync("after_reconnect,host=a v=1 1700000000000000000");
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "after_reconnect", 1, Landing));
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
                await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"ws\"}") >= reconnects + 1, TimeSpan.FromSeconds(10)),
            "ingest_source_reconnects_total{source=\"ws\"} did not grow");
        Assert.Equal("connected", await StateAsync("ws"));
    }

    [Fact]
    public async Task A_WebSocket_upstream_that_closes_each_connection_at_once_is_reconnected_to_with_backoff_not_in_a_tight_loop()
    {
        var ws = Upstream.Socket("closing");
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(ws.Connections >= 2), Landing),
            $"wsclosing was not connected to twice: {ws.Connections} connection(s), state {await StateAsync("wsclosing")}");
        var connections = ws.Connections;
        var reconnects = await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"wsclosing\"}");
        await Task.Delay(TimeSpan.FromSeconds(3));
        var seen = ws.Connections - connections;
        // Waits of 250 ms doubling up to 1.5 s (less up to a quarter): a handful of connections in 3 s, not hundreds.
        Assert.True(seen >= 1 && seen <= 12, $"{seen} connections in 3 s");
        Assert.True(await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"wsclosing\"}") >= reconnects + 1,
            "the reconnects were not counted");
        // Connected only for the moment between the accept and the close: mostly seen waiting.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await StateAsync("wsclosing") == "backing_off", TimeSpan.FromSeconds(5)),
            "wsclosing is not shown backing off");
    }

    [Fact]
    public async Task A_WebSocket_upstream_that_never_answers_a_ping_is_dropped_after_PongTimeout_and_connected_to_again()
    {
        var ws = Upstream.Socket("deaf");
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(ws.Connections >= 1), Landing), "wsdeaf never connected");
        var connections = ws.Connections;
        var reconnects = await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"wsdeaf\"}");
        // A ping after 200 ms, unanswered for 500 ms: dropped; then a wait of at most 1.5 s before the next attempt.
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(ws.Connections >= connections + 2), TimeSpan.FromSeconds(8)),
            $"wsdeaf was not dropped and connected to again: {ws.Connections - connections} new connections");
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
                await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"wsdeaf\"}") >= reconnects + 2, TimeSpan.FromSeconds(5)),
            "the reconnects were not counted");
    }

    [Fact]
    public async Task An_SSE_stream_silent_for_IdleTimeout_is_dropped_and_opened_again_with_the_last_event_id()
    {
        var sse = Upstream.Stream("idle");
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(fixture.Db("sseidle"), "sseidle", 1, Landing));
        // One event, then silence: after IdleTimeout (1 s) and a backoff wait the stream is asked for again.
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(sse.LastEventIds.Count >= 2), TimeSpan.FromSeconds(8)),
            "the silent stream was not opened again");
        Assert.Equal("", sse.LastEventIds.First());
        Assert.Equal("7", sse.LastEventIds.Skip(1).First());
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
                await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"sseidle\"}") >= 1, TimeSpan.FromSeconds(5)),
            "the reconnect was not counted");
    }

    [Fact]
    public async Task Bad_lines_mixed_with_good_ones_are_counted_and_the_good_points_land()
    {
        var ws = Upstream.Socket("bad");
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(ws.Open > 0), Landing), "wsbad never connected");
        var errors = await Stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"wsbad\"}");
        await ws.SendAsync("mixed,k=1 v=1 1700000000000000000\nthis is not line protocol\nmixed,k=2 v=2 1700000000000000000");
        await ws.SendAsync("mixed,k=3 v= 1700000000000000000");
        await ws.SendAsync("mixed,k=4 v=4 1700000000000000000");
        var db = fixture.Db("wsbad");
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            (await InfluxRows.QueryAsync(Stack.Influx, db, "SELECT v FROM mixed GROUP BY k")).Count == 3, Landing), "the good points did not land");
        var series = await InfluxRows.QueryAsync(Stack.Influx, db, "SELECT v FROM mixed GROUP BY k");
        Assert.Equal(["1", "2", "4"], series.Select(s => s.Tags["k"]).Order());
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await Stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"wsbad\"}") == errors + 2, TimeSpan.FromSeconds(10)),
            "decode errors: " + await Stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"wsbad\"}"));
    }

    [Fact]
    public async Task SSE_events_of_the_configured_types_land_and_a_reconnect_sends_the_last_event_id()
    {
        var sse = Upstream.Stream("main");
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(sse.Open > 0), Landing), "the sse source never connected");
        Assert.Equal("Bearer " + WebSourcesFixture.Token, sse.LastHeaders!["Authorization"].ToString());
        Assert.Equal("text/event-stream", sse.LastHeaders!["Accept"].ToString());

        await sse.SendAsync(": a comment, then an unnamed event\nid: 1\ndata: ssem,k=a v=1 1700000000000000000\n\n");
        // Two data lines make one payload of two lines; a named type taken by Events.
        await sse.SendAsync("event: metrics\nid: 2\ndata: ssem,k=b v=2 1700000001000000000\ndata:ssem,k=c v=3 1700000002000000000\n\n");
        // A type not in Events: not taken, but its id is the last one.
        await sse.SendAsync("event: other\nid: 3\ndata: ssem,k=z v=9 1700000003000000000\n\n");
        // CRLF line ends, split between two writes; retry is read; a field without a colon is ignored.
        await sse.SendAsync("retry: 300\r\nunknownfield\r\ndata: ssem,k=d v=4 1700000004000000000\r");
        await Task.Delay(50);
        await sse.SendAsync("\n\r\n");
        // An event without data is not dispatched; an event not ended by a blank line is not either.
        await sse.SendAsync("event: message\n\n");
        var db = fixture.Db("sse");
        Assert.Equal(4, await Stack.Influx.WaitForCountAsync(db, "ssem", 4, Landing));
        var series = await InfluxRows.QueryAsync(Stack.Influx, db, "SELECT v FROM ssem GROUP BY k");
        Assert.Equal(["a", "b", "c", "d"], series.Select(s => s.Tags["k"]).Order());

        var connections = sse.LastEventIds.Count;
        var reconnects = await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"sse\"}");
        await sse.SendAsync("data: ssem,k=partial v=1 1700000005000000000\n");
        sse.EndAll();
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(sse.LastEventIds.Count > connections && sse.Open > 0), TimeSpan.FromSeconds(5)),
            "the sse source did not connect again");
        Assert.Equal("3", sse.LastEventIds.Last());
        await sse.SendAsync("id: 4\ndata: ssem,k=e v=5 1700000006000000000\n\n");
        Assert.Equal(5, await Stack.Influx.WaitForCountAsync(db, "ssem", 5, Landing));
        Assert.Equal(5, await Stack.Influx.CountAsync(db, "ssem"));
        Assert.True(await Stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"sse\"}") >= reconnects + 1);
    }

    [Fact]
    public async Task An_unchanged_polled_resource_ETag_gives_no_duplicate_points_and_a_500_is_counted_and_the_source_goes_on()
    {
        var poll = Upstream.Poll("main");
        var db = fixture.Db("poll");
        // No timestamps: each poll taken would be new points (at its arrival time), so a duplicate would show.
        poll.Set("pollm,k=a v=1\npollm,k=b v=2");
        Assert.Equal(2, await Stack.Influx.WaitForCountAsync(db, "pollm", 2, Landing));
        var notModified = poll.NotModified;
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(poll.NotModified >= notModified + 5), TimeSpan.FromSeconds(10)), "no 304s");
        await Task.Delay(500);
        Assert.Equal(2, await Stack.Influx.CountAsync(db, "pollm"));
        Assert.All(poll.Seen, s => Assert.Equal("Bearer " + WebSourcesFixture.Token, s.Authorization));

        var errors = await Stack.Daemon.MetricAsync("ingest_source_poll_errors_total{reason=\"status\",source=\"poll\"}");
        poll.FailNext(3);
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(poll.Failed >= 3), TimeSpan.FromSeconds(10)), "the failures were not polled");
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await Stack.Daemon.MetricAsync("ingest_source_poll_errors_total{reason=\"status\",source=\"poll\"}") >= errors + 3, TimeSpan.FromSeconds(5)),
            "the 500s were not counted");
        poll.Set("pollm,k=c v=3");
        Assert.Equal(3, await Stack.Influx.WaitForCountAsync(db, "pollm", 3, Landing));
        Assert.Equal("connected", await StateAsync("poll"));
        await Task.Delay(600);
        Assert.Equal(3, await Stack.Influx.CountAsync(db, "pollm"));
    }

    [Fact]
    public async Task A_polled_POST_with_basic_credentials_and_Last_Modified_takes_an_unchanged_resource_once()
    {
        var poll = Upstream.Poll("modified");
        var db = fixture.Db("pollmod");
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "pollmod", 1, Landing));
        var notModified = poll.NotModified;
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(poll.NotModified >= notModified + 3), TimeSpan.FromSeconds(10)), "no 304s");
        await Task.Delay(500);
        Assert.Equal(1, await Stack.Influx.CountAsync(db, "pollmod"));
        var seen = poll.Seen.First();
        Assert.Equal("POST", seen.Method);
        Assert.Equal("""{"query":"all"}""", seen.Body);
        Assert.Equal("application/json", seen.ContentType);
        Assert.Equal("Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("reader:" + WebSourcesFixture.Password)), seen.Authorization);
        Assert.DoesNotContain(WebSourcesFixture.Password, Stack.Daemon.Output);
    }

    [Theory]
    [InlineData("--Sources:w:Type=websocket", "Sources:w:Url = '': a ws or wss URL is required")]
    [InlineData("--Sources:w:Type=websocket --Sources:w:Url=http://127.0.0.1:1/x", "Sources:w:Url = 'http://127.0.0.1:1/x': expected an absolute ws:// or wss:// URL")]
    [InlineData("--Sources:s:Type=sse --Sources:s:Url=not-a-url", "Sources:s:Url = 'not-a-url': expected an absolute http:// or https:// URL")]
    [InlineData("--Sources:p:Type=http --Sources:p:Url=http://127.0.0.1:1/x --Sources:p:Interval=soon", "Sources:p:Interval = 'soon': expected a duration")]
    [InlineData("--Sources:p:Type=http --Sources:p:Url=http://127.0.0.1:1/x --Sources:p:Method=PUT", "Sources:p:Method = 'PUT': expected one of: GET, POST")]
    [InlineData("--Sources:p:Type=http --Sources:p:Url=http://127.0.0.1:1/x --Sources:p:Intervall=1s", "unknown configuration key Sources:p:Intervall")]
    public async Task A_bad_key_stops_the_start_naming_the_full_key_and_value(string settings, string expected)
    {
        var (exit, output) = await DaemonProcess.RunToExitAsync([.. settings.Split(' '), "--urls", $"http://127.0.0.1:{DaemonProcess.FreeLoopbackPort()}"]);
        Assert.Equal(2, exit);
        Assert.Contains(expected, output);
    }

    /// <summary>Waits for connection <paramref name="connection"/> (at least the first) to have sent both subscriptions.</summary>
    private static async Task WaitForSubscriptionsAsync(WsEndpoint ws, int connection)
    {
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(
                ws.Connections >= Math.Max(connection, 1) &&
                ws.Received.Where(r => r.Connection == ws.Connections).Select(r => r.Text).SequenceEqual(["subscribe cpu", "subscribe mem"])),
            Landing, pollMs: 20), "subscriptions not received: " + string.Join(", ", ws.Received));
    }

    private async Task<string?> StateAsync(string source)
    {
        using var status = JsonDocument.Parse(await Stack.Client.GetStringAsync("api/status"));
        return status.RootElement.GetProperty("sources").EnumerateArray()
            .Single(s => s.GetProperty("name").GetString() == source).GetProperty("state").GetString();
    }
}
