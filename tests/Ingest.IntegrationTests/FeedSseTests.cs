using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using static Ingest.IntegrationTests.Daemon.FeedSocket;

namespace Ingest.IntegrationTests;

/// <summary>One server-sent event as the stream carried it.</summary>
public sealed record SseEvent(string? Id, string Name, JsonElement Data);

/// <summary>A plain HTTP client of <c>GET /api/stream</c>, reading the body as it comes and parsing the events.</summary>
public sealed class SseStream : IDisposable
{
    private readonly HttpClient _client;
    private readonly StreamReader _reader;

    private SseStream(HttpClient client, HttpResponseMessage response, StreamReader reader)
    {
        _client = client;
        Response = response;
        _reader = reader;
    }

    public HttpResponseMessage Response { get; }

    /// <summary>Comment lines seen so far (without the colon).</summary>
    public List<string> Comments { get; } = [];

    public int? Retry { get; private set; }

    public static HttpClient NewClient(DaemonProcess daemon) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{daemon.Port}/"), Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>Opens the stream; the answer must be 200 with an event stream.</summary>
    public static async Task<SseStream> OpenAsync(DaemonProcess daemon, string query, Action<HttpRequestMessage>? prepare = null)
    {
        var (client, response) = await SendAsync(daemon, query, prepare);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new Xunit.Sdk.XunitException($"GET /api/stream{query} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return new SseStream(client, response, new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8));
    }

    /// <summary>The answer, headers only, for a test that expects a refusal.</summary>
    public static async Task<(HttpClient, HttpResponseMessage)> SendAsync(DaemonProcess daemon, string query, Action<HttpRequestMessage>? prepare = null)
    {
        var client = NewClient(daemon);
        var request = new HttpRequestMessage(HttpMethod.Get, "api/stream" + query);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        prepare?.Invoke(request);
        return (client, await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead));
    }

    /// <summary>The next event; comments are collected on the way. Null at the end of the stream.</summary>
    public async Task<SseEvent?> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        string? id = null, name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token);
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (data.Length == 0)
                {
                    name = null;
                    continue;
                }
                return new SseEvent(id, name ?? "message", JsonDocument.Parse(data.ToString()).RootElement.Clone());
            }
            if (line[0] == ':')
            {
                Comments.Add(line[1..].TrimStart());
                continue;
            }
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "retry": Retry = int.Parse(value); break;
                case "data":
                    if (data.Length > 0) data.Append('\n');
                    data.Append(value);
                    break;
            }
        }
    }

    /// <summary>The next event that is not <paramref name="skipped"/>.</summary>
    public async Task<SseEvent> NextOtherThanAsync(string skipped, TimeSpan? timeout = null)
    {
        while (true)
        {
            var e = await NextAsync(timeout) ?? throw new Xunit.Sdk.XunitException("the stream ended");
            if (e.Name != skipped) return e;
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        Response.Dispose();
        _client.Dispose();
    }
}

/// <summary>A daemon with influxd and redis, a threshold rule and a short keep-alive, shared by the stream tests that need the live state.</summary>
public sealed class SseStackFixture : IAsyncLifetime
{
    public IngestStack Stack { get; private set; } = null!;

    public async Task InitializeAsync() => Stack = await IngestStack.StartAsync(new Dictionary<string, string>
    {
        ["Thresholds:Rules:0:Name"] = "hot", ["Thresholds:Rules:0:Measurement"] = "ssea",
        ["Thresholds:Rules:0:Field"] = "v", ["Thresholds:Rules:0:Crit"] = "90",
        ["Feed:KeepAlive"] = "1s",
    });

    public async Task DisposeAsync()
    {
        if (Stack is not null) await Stack.DisposeAsync();
    }
}

/// <summary>The live feed as server-sent events at <c>GET /api/stream</c>, read by a plain HTTP client from the real daemon.</summary>
public class FeedSseTests(SseStackFixture fixture) : IClassFixture<SseStackFixture>
{
    private DaemonProcess Daemon => fixture.Stack.Daemon;

    private async Task WaitForLiveAsync(string query, Func<JsonElement, bool> done)
    {
        JsonElement last = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            last = JsonDocument.Parse(await Daemon.Client.GetStringAsync("api/snapshot?" + query)).RootElement.Clone();
            return done(last);
        }, TimeSpan.FromSeconds(10)), $"the live state never got there: {last}");
    }

    [Fact]
    public async Task FeedSse_sends_the_snapshot_first_then_matching_points_as_events_with_ids_and_keep_alives()
    {
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "ssem,host=a v=1,w=2 1000\nssem,host=b v=3 1000\nother,host=a v=9 1000"));
        await WaitForLiveAsync("measurement=ssem", s => s.GetArrayLength() == 2);

        using var stream = await SseStream.OpenAsync(Daemon, "?channel=points&measurement=ssem*&tag=host:a&field=v");
        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);
        Assert.True(stream.Response.Headers.CacheControl?.NoCache, $"Cache-Control: {stream.Response.Headers.CacheControl}");

        var snapshot = await stream.NextAsync() ?? throw new Xunit.Sdk.XunitException("no snapshot");
        Assert.Equal("snapshot", snapshot.Name);
        Assert.Equal("1", snapshot.Id);
        Assert.Equal(3000, stream.Retry);
        Assert.Equal("snapshot", snapshot.Data.GetProperty("type").GetString());
        var first = Assert.Single(snapshot.Data.GetProperty("points").EnumerateArray());
        Assert.Equal("a", first.GetProperty("tags").GetProperty("host").GetString());
        Assert.Equal(1, first.GetProperty("fields").GetProperty("v").GetDouble());
        Assert.False(first.GetProperty("fields").TryGetProperty("w", out _), first.ToString());

        // Only what the filters match: host a of an ssem* measurement, field v.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "ssem,host=b v=5 2000\nother,host=a v=1 2000\nssem,host=a v=4,w=5 2000"));
        var update = await stream.NextAsync() ?? throw new Xunit.Sdk.XunitException("the stream ended");
        Assert.Equal("points", update.Name);
        Assert.Equal("2", update.Id);
        var point = Assert.Single(update.Data.GetProperty("points").EnumerateArray());
        Assert.Equal(("ssem", "a"), (point.GetProperty("measurement").GetString(), point.GetProperty("tags").GetProperty("host").GetString()));
        Assert.Equal(4, point.GetProperty("fields").GetProperty("v").GetDouble());
        Assert.False(point.GetProperty("fields").TryGetProperty("w", out _), point.ToString());
        Assert.Equal(2000, point.GetProperty("time").GetInt64());

        // Idle: keep-alive comments every Feed:KeepAlive (1 s here), no events.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.NextAsync(TimeSpan.FromSeconds(2.5)));
        Assert.Contains("keep-alive", stream.Comments);
    }

    [Fact]
    public async Task FeedSse_alerts_channel_gives_the_active_alerts_then_transitions()
    {
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "ssea,host=c,dc=x v=95 1000\nssea,host=e,dc=y v=97 1000"));
        using var stream = await SseStream.OpenAsync(Daemon, "?channel=alerts&tag=dc:x");
        var snapshot = await stream.NextAsync() ?? throw new Xunit.Sdk.XunitException("no snapshot");
        Assert.Equal("snapshot", snapshot.Name);
        var active = Assert.Single(snapshot.Data.GetProperty("alerts").EnumerateArray());
        Assert.Equal("ssea,dc=x,host=c", active.GetProperty("seriesKey").GetString());

        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "ssea,host=f,dc=y v=99 2000\nssea,host=d,dc=x v=99 2000"));
        var fired = await stream.NextAsync() ?? throw new Xunit.Sdk.XunitException("the stream ended");
        Assert.Equal("alerts", fired.Name);
        var e = Assert.Single(fired.Data.GetProperty("events").EnumerateArray());
        Assert.Equal(("ssea,dc=x,host=d", "crit", "ok"), (e.GetProperty("seriesKey").GetString(), e.GetProperty("level").GetString(), e.GetProperty("previous").GetString()));
    }

    [Fact]
    public async Task FeedSse_refuses_a_bad_or_unknown_parameter_with_400_naming_it_before_the_stream_starts()
    {
        foreach (var (query, message) in new[]
        {
            ("?channel=points&measurment=cpu", "unknown parameter 'measurment'"),
            ("?channel=everything", "channel must be points, aggregates or alerts, not 'everything'"),
            ("", "channel is missing"),
            ("?channel=points&channel=alerts", "channel is given 2 times"),
            ("?channel=points&tag=host", "tag=host: tag filters are key:value"),
            ("?channel=aggregates", "the aggregates channel needs a tier"),
            ("?channel=points&tier=1m", "tier applies to the aggregates channel only"),
            ("?channel=points&field=" + new string('*', 2000), "field is 2000 characters long"),
            ("?channel=points&measurement=*" + new string('a', 1024), "measurement is 1025 characters long"),
        })
        {
            var (client, response) = await SseStream.SendAsync(Daemon, query);
            using (client)
            using (response)
            {
                // A stream that started would never end: fail on the status before reading the body.
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)response.StatusCode} {response.Content.Headers.ContentType}");
                var body = await response.Content.ReadAsStringAsync();
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                Assert.Contains(message, JsonDocument.Parse(body).RootElement.GetProperty("message").GetString());
            }
        }
    }

    [Fact]
    public async Task FeedSse_reconnecting_with_Last_Event_ID_gets_a_new_snapshot_holding_what_it_missed_and_ids_go_on()
    {
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "sser,host=a v=1 1000"));
        await WaitForLiveAsync("measurement=sser", s => s.GetArrayLength() == 1);
        string lastId;
        using (var stream = await SseStream.OpenAsync(Daemon, "?channel=points&measurement=sser"))
        {
            Assert.Equal("snapshot", (await stream.NextAsync())!.Name);
            Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "sser,host=a v=2 2000"));
            var update = (await stream.NextAsync())!;
            Assert.Equal("points", update.Name);
            lastId = update.Id!;
        }

        // Written while no one listened: the feed cannot replay it, the new snapshot carries its outcome.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "sser,host=a v=3 3000\nsser,host=b v=7 3000"));
        await WaitForLiveAsync("measurement=sser", s => s.GetArrayLength() == 2
            && s.EnumerateArray().Any(x => x.GetProperty("fields").GetProperty("v").GetProperty("value").GetDouble() == 3));

        using var resumed = await SseStream.OpenAsync(Daemon, "?channel=points&measurement=sser", r => r.Headers.Add("Last-Event-ID", lastId));
        var snapshot = (await resumed.NextAsync())!;
        Assert.Equal("snapshot", snapshot.Name);
        Assert.Equal((long.Parse(lastId) + 1).ToString(), snapshot.Id);
        Assert.Contains(resumed.Comments, c => c.Contains($"resumed after event {lastId}"));
        var values = snapshot.Data.GetProperty("points").EnumerateArray()
            .ToDictionary(p => p.GetProperty("tags").GetProperty("host").GetString()!, p => p.GetProperty("fields").GetProperty("v").GetDouble());
        Assert.Equal(new Dictionary<string, double> { ["a"] = 3, ["b"] = 7 }, values);

        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(Daemon, "sser,host=a v=4 4000"));
        var next = (await resumed.NextAsync())!;
        Assert.Equal("points", next.Name);
        Assert.Equal((long.Parse(lastId) + 2).ToString(), next.Id);
    }
}

/// <summary>The stream's auth, origins and slow clients, each with a daemon of its own settings.</summary>
public class FeedSseLimitsTests
{
    [Fact]
    public async Task FeedSse_needs_a_read_token_as_header_or_query_parameter_checks_the_origin_and_sends_only_granted_databases()
    {
        var (_, readHash) = await DaemonProcess.RunToExitAsync("hash-token", "sse-secret");
        var (_, writeHash) = await DaemonProcess.RunToExitAsync("hash-token", "sse-writer");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "dash", ["Auth:Tokens:0:Sha256"] = readHash.Trim(), ["Auth:Tokens:0:Scopes:0"] = "read",
            ["Auth:Tokens:0:Databases:0"] = "feed",
            ["Auth:Tokens:1:Name"] = "writer", ["Auth:Tokens:1:Sha256"] = writeHash.Trim(), ["Auth:Tokens:1:Scopes:0"] = "write",
            ["Feed:AllowedOrigins:0"] = "https://dash.example",
        });

        var (c1, anonymous) = await SseStream.SendAsync(daemon, "?channel=points");
        using (c1)
        using (anonymous)
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var (c2, writer) = await SseStream.SendAsync(daemon, "?channel=points&token=sse-writer");
        using (c2)
        using (writer)
            Assert.Equal(HttpStatusCode.Forbidden, writer.StatusCode);
        var (c3, foreign) = await SseStream.SendAsync(daemon, "?channel=points&token=sse-secret", r => r.Headers.Add("Origin", "https://evil.example"));
        using (c3)
        using (foreign)
            Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);

        using var bearer = await SseStream.OpenAsync(daemon, "?channel=points&measurement=grant",
            r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sse-secret"));
        Assert.Equal("snapshot", (await bearer.NextAsync())!.Name);
        using var browser = await SseStream.OpenAsync(daemon, "?channel=points&measurement=grant&token=sse-secret",
            r => r.Headers.Add("Origin", "https://dash.example"));
        Assert.Equal("https://dash.example", browser.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("snapshot", (await browser.NextAsync())!.Name);

        // The token is granted the database feed only: a point written to another one is not sent.
        foreach (var (db, body) in new[] { ("other", "grant v=1 1000"), ("feed", "grant v=2 2000") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"write?db={db}") { Content = new StringContent(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Token", "sse-writer");
            using var written = await daemon.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.NoContent, written.StatusCode);
        }
        foreach (var stream in new[] { bearer, browser })
        {
            var update = (await stream.NextAsync())!;
            Assert.Equal("points", update.Name);
            Assert.Equal(2, Assert.Single(update.Data.GetProperty("points").EnumerateArray()).GetProperty("fields").GetProperty("v").GetDouble());
        }
    }

    [Fact]
    public async Task FeedSse_a_client_that_never_reads_is_let_go_after_SlowClientTimeout_while_ingestion_and_a_fast_client_go_on()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Feed:ClientQueue"] = "4",
            ["Feed:SlowClientTimeout"] = "1s",
        });
        using var fast = await SseStream.OpenAsync(daemon, "?channel=points&measurement=burst");
        Assert.Equal("snapshot", (await fast.NextAsync())!.Name);
        // Never reads its body: what the daemon sends waits in the socket buffers, then in the daemon.
        var (slowClient, slow) = await SseStream.SendAsync(daemon, "?channel=points&measurement=burst");
        Assert.Equal(HttpStatusCode.OK, slow.StatusCode);

        // Reads until the test is over. A read cancelled by its timeout would drop the connection, so the
        // timeout is longer than the test: the fast client must stay connected throughout.
        var fastReceived = 0;
        var fastLast = "";
        var reader = Task.Run(async () =>
        {
            try
            {
                while (await fast.NextAsync(TimeSpan.FromSeconds(120)) is { } e)
                {
                    if (e.Name is "points" or "conflated") Interlocked.Increment(ref fastReceived);
                    if (e.Name == "points") Volatile.Write(ref fastLast, e.Data.GetRawText());
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
        });

        // 1 000 series a body, ~150 bytes of JSON a point: far more than the slow client's socket buffers hold.
        var statuses = new List<HttpStatusCode>();
        var body = new StringBuilder();
        for (var round = 0; round < 150; round++)
        {
            body.Clear();
            for (var s = 0; s < 1000; s++) body.Append($"burst,host=h{s} v={round},pad=\"{new string('x', 100)}\" {round + 1}\n");
            statuses.Add(await WriteAsync(daemon, body.ToString()));
            await Task.Delay(20);
        }

        // The daemon lets the slow client go and counts it; the fast one is still there and still served.
        JsonElement feed = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status"));
            feed = doc.RootElement.GetProperty("feed").Clone();
            return feed.GetProperty("clients").GetInt32() == 1;
        }, TimeSpan.FromSeconds(10)), $"feed status: {feed}\n{daemon.Output}");
        Assert.Equal(1, feed.GetProperty("clientsByTransport").GetProperty("sse").GetInt32());
        Assert.Matches(@"ingest_feed_clients_disconnected_slow_total 1\b", await daemon.Client.GetStringAsync("metrics"));
        Assert.Contains("sse) was disconnected: too slow", daemon.Output);
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "burst,host=last v=-1 1000000"));
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref fastLast).Contains("\"last\"")), TimeSpan.FromSeconds(10)),
            "the fast client got no update after the slow one was let go");

        // What the slow client can still read ends: its response is over (cut, or closed with the reason).
        var ended = false;
        try
        {
            using var stream = await slow.Content.ReadAsStreamAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var buffer = new byte[1 << 16];
            while (await stream.ReadAsync(buffer, cts.Token) > 0) { }
            ended = true;
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            ended = true;
        }
        Assert.True(ended);
        fast.Dispose();
        await reader;
        slow.Dispose();
        slowClient.Dispose();

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.NoContent, s));
        Assert.True(fastReceived >= 100, $"the fast client got only {fastReceived} of 150 updates");
    }
}
