using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using static Ingest.IntegrationTests.Daemon.FeedSocket;

namespace Ingest.IntegrationTests;

/// <summary>What the feed holds for a client, and what feed matching may cost the pipeline: bounded, against the real daemon.</summary>
public class FeedLimitsTests
{
    private const int Budget = 256 * 1024;

    private static async Task WriteSeriesAsync(DaemonProcess daemon, string measurement, int series)
    {
        var body = new StringBuilder();
        for (var i = 0; i < series; i++) body.Append($"{measurement},host=h{i:D5},region=eu-west-{i % 3} v={i}.5,w={i}i 1000\n");
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, body.ToString()));
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await daemon.Client.GetStringAsync($"api/series?measurement={measurement}"));
            return doc.RootElement.GetArrayLength() == series;
        }, TimeSpan.FromSeconds(20)), "the live state never held the series");
    }

    private static async Task<JsonElement> StatusAsync(DaemonProcess daemon)
    {
        using var doc = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status"));
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task A_client_that_subscribes_over_and_over_without_reading_is_held_to_its_budget_then_disconnected_while_others_carry_on()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Feed:ClientQueueBytes"] = Budget.ToString(),
            ["Feed:SlowClientTimeout"] = "2s",
        });
        var daemon = stack.Daemon;
        // 5 000 series: each snapshot is about 600 KB of JSON, 200 of them 120 MB if they were all kept.
        await WriteSeriesAsync(daemon, "flood", 5000);

        using var watcher = await ConnectAsync(daemon);
        await SendAsync(watcher, new { op = "subscribe", channel = "points", measurement = "probe" });
        Assert.Equal("subscribed", (await ReceiveAsync(watcher)).GetProperty("type").GetString());
        Assert.Equal("snapshot", (await ReceiveAsync(watcher)).GetProperty("type").GetString());
        var watched = 0;
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            try
            {
                while (true)
                    if ((await ReceiveAsync(watcher, TimeSpan.FromSeconds(60))).GetProperty("type").GetString() == "points") Interlocked.Increment(ref watched);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        });

        using var attacker = await ConnectAsync(daemon);
        var request = JsonSerializer.SerializeToUtf8Bytes(new { op = "subscribe", channel = "points", measurement = "flood" });
        var flooding = Task.Run(async () =>
        {
            try
            {
                // The daemon stops reading once the client's queue is full: these sends then wait on TCP.
                for (var i = 0; i < 200; i++) await attacker.SendAsync(request, WebSocketMessageType.Text, true, stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        });

        // Until the daemon has let the attacker go: probe writes, and the bytes the feed holds.
        var statuses = new List<HttpStatusCode>();
        long mostQueued = 0;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            statuses.Add(await WriteAsync(daemon, $"probe v={statuses.Count} {statuses.Count + 1}"));
            var feed = (await StatusAsync(daemon)).GetProperty("feed");
            mostQueued = Math.Max(mostQueued, feed.GetProperty("queuedBytes").GetInt64());
            if (feed.GetProperty("clients").GetInt32() == 1) break;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the attacker is still connected after 60 s; most queued {mostQueued} bytes\n{daemon.Output}");
            await Task.Delay(100);
        }

        // Queue and conflated updates of one client, plus the message in flight: never the 200 snapshots.
        Assert.True(mostQueued <= 2 * Budget + 2 * 64 * 1024, $"the feed held {mostQueued} bytes");
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.NoContent, s));
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref watched) == statuses.Count), TimeSpan.FromSeconds(10)),
            $"the other client got {watched} of {statuses.Count} probe points");
        Assert.Matches(@"ingest_feed_clients_disconnected_slow_total [1-9]", await daemon.Client.GetStringAsync("metrics"));
        Assert.Contains("too slow: read none of its answers for 2 s", daemon.Output);

        // What the attacker can still read: the answers the daemon had queued, then the end of the connection.
        var subscribed = 0;
        try
        {
            while (true)
                if ((await ReceiveAsync(attacker, TimeSpan.FromSeconds(10))).GetProperty("type").GetString() == "subscribed") subscribed++;
        }
        catch (WebSocketException)
        {
        }
        Assert.InRange(subscribed, 1, 20);
        stop.Cancel();
        await flooding;
        watcher.Abort();
        await watching;
    }

    [Fact]
    public async Task A_large_snapshot_comes_in_parts_of_about_64_KB_all_but_the_last_saying_more()
    {
        await using var stack = await IngestStack.StartAsync();
        var daemon = stack.Daemon;
        await WriteSeriesAsync(daemon, "big", 5000);

        using var ws = await ConnectAsync(daemon);
        await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = "big", fields = new[] { "v" } });
        Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        var hosts = new HashSet<string>();
        var parts = 0;
        while (true)
        {
            var part = await ReceiveAsync(ws);
            Assert.Equal("snapshot", part.GetProperty("type").GetString());
            Assert.True(part.GetRawText().Length < 64 * 1024 + 1024, $"part of {part.GetRawText().Length} bytes");
            parts++;
            foreach (var p in part.GetProperty("points").EnumerateArray())
            {
                Assert.True(hosts.Add(p.GetProperty("tags").GetProperty("host").GetString()!));
                Assert.False(p.GetProperty("fields").TryGetProperty("w", out _));
            }
            if (!part.TryGetProperty("more", out var more)) break;
            Assert.True(more.GetBoolean());
        }
        Assert.True(parts > 1, "5 000 series came in one message");
        Assert.Equal(5000, hosts.Count);

        // Then the updates, as before.
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, "big,host=h00007,region=eu-west-1 v=1 2000"));
        JsonElement update;
        try
        {
            update = await ReceiveAsync(ws);
        }
        catch (OperationCanceledException)
        {
            // Seen once in a full run and not since: say what the feed and the pipeline were doing.
            Assert.Fail("no update within 10 s after the snapshot; status: " + (await StatusAsync(daemon)).GetRawText() + "\n" + DaemonApi.Tail(stack));
            throw;
        }
        Assert.Equal("points", update.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Costly_subscriptions_are_matched_off_the_pipeline_and_the_feed_drops_its_oldest_when_behind()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Pipeline:RawExclude:0"] = "*",
            ["Feed:PublishQueue"] = "40",
        });
        // Twenty subscriptions of the longest pattern allowed, each with a '?' inside a long piece (the
        // bit-parallel search), each a group of its own: every long name costs each of them a scan.
        using var ws = await ConnectAsync(daemon);
        for (var i = 0; i < 20; i++)
        {
            var pattern = "*" + new string('a', 500) + "?" + new string('a', 500) + "b" + (char)('a' + i) + "*";
            await SendAsync(ws, new { op = "subscribe", channel = "points", measurement = pattern });
            Assert.Equal("subscribed", (await ReceiveAsync(ws)).GetProperty("type").GetString());
            Assert.Equal("snapshot", (await ReceiveAsync(ws)).GetProperty("type").GetString());
        }
        static long Received(JsonElement status, string stage) =>
            status.GetProperty("stages").EnumerateArray().Single(s => s.GetProperty("name").GetString() == stage).GetProperty("received").GetInt64();
        var before = Received(await StatusAsync(daemon), "feed");

        // 10 bodies of 40 points, each with its own 30 000-character measurement: new series, so no verdict is cached.
        var bodies = Enumerable.Range(0, 10).Select(b =>
        {
            var body = new StringBuilder();
            for (var i = 0; i < 40; i++) body.Append('a', 30_000).Append('_').Append(b * 40 + i).Append(" v=1\n");
            return body.ToString();
        }).ToList();
        var statuses = await Task.WhenAll(bodies.Select(b => WriteAsync(daemon, b)));
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.NoContent, s));

        // The feed's branch hands every point to the feed at its own pace; by then the feed, matching far more
        // slowly, has had to drop for lack of room in its queue of 40 points.
        JsonElement status = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            status = await StatusAsync(daemon);
            return Received(status, "feed") - before == 400;
        }, TimeSpan.FromSeconds(30)), $"the feed was handed {Received(status, "feed") - before} of 400 points");
        var feed = status.GetProperty("stages").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "feed");
        Assert.True(feed.GetProperty("dropped").TryGetProperty("queue_full", out var dropped) && dropped.GetInt64() > 0, feed.ToString());
        Assert.Equal(40, feed.GetProperty("queue").GetProperty("capacity").GetInt64());
    }

    [Fact]
    public async Task The_live_state_API_refuses_patterns_over_1024_characters_and_matches_long_names_in_linear_time()
    {
        await using var stack = await IngestStack.StartAsync();
        var daemon = stack.Daemon;
        var body = new StringBuilder();
        for (var i = 0; i < 40; i++) body.Append('a', 60_000).Append('_').Append(i).Append(",host=x v=1 1000\n");
        Assert.Equal(HttpStatusCode.NoContent, await WriteAsync(daemon, body.ToString()));
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/series?measurement=aaa*"));
            return doc.RootElement.GetArrayLength() == 40;
        }, TimeSpan.FromSeconds(20)), "the live state never held the long-named series");

        // The backtracking matcher took about 40 × 60 000 × 1 000 steps for this (over 20 s here); linear, it is
        // 40 × 61 000 at most.
        var clock = Stopwatch.StartNew();
        using (var r = await daemon.Client.GetAsync("api/snapshot?measurement=*" + new string('a', 1020) + "b"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("[]", await r.Content.ReadAsStringAsync());
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:F1} s");

        foreach (var (query, message) in new[]
        {
            ("api/snapshot?measurement=*" + new string('a', 1024), "measurement is 1025 characters long; patterns are limited to 1024"),
            ("api/series?tag=host:" + new string('?', 1025), "is 1025 characters long"),
            ("api/snapshot?field=" + new string('*', 2000), "field is 2000 characters long"),
            ("api/series?tag=host", "tag=host: tag filters are key:value"),
        })
        {
            using var r = await daemon.Client.GetAsync(query);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(message, await r.Content.ReadAsStringAsync());
        }
    }
}
