using System.Diagnostics;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using StackExchange.Redis;

namespace Ingest.IntegrationTests;

/// <summary>One daemon reading five <c>redis</c> sources (a mode each, plus a stream of bad entries) from a real redis-server.</summary>
public sealed class RedisSourcesFixture : IAsyncLifetime
{
    public const string PubSubDb = "rs_pubsub", StreamDb = "rs_stream", ListDb = "rs_list", HashDb = "rs_hashes", JsonHashDb = "rs_json_hashes", NodeDb = "rs_nodes", BadDb = "rs_bad", ClaimDb = "rs_claim";

    public IngestStack Stack { get; private set; } = null!;
    public ConnectionMultiplexer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Sources:ps:Type"] = "redis",
            ["Sources:ps:Mode"] = "pubsub",
            ["Sources:ps:Channels:0"] = "metrics",
            ["Sources:ps:Patterns:0"] = "site.*",
            ["Sources:ps:Database"] = PubSubDb,
            ["Sources:st:Type"] = "redis",
            ["Sources:st:Mode"] = "stream",
            ["Sources:st:Stream"] = "st:in",
            ["Sources:st:Group"] = "ingest",
            ["Sources:st:Database"] = StreamDb,
            ["Sources:li:Type"] = "redis",
            ["Sources:li:Mode"] = "list",
            ["Sources:li:Key"] = "li:in",
            ["Sources:li:Database"] = ListDb,
            ["Sources:hs:Type"] = "redis",
            ["Sources:hs:Mode"] = "hashes",
            ["Sources:hs:Pattern"] = "peer:*",
            ["Sources:hs:Interval"] = "300ms",
            ["Sources:hs:Database"] = HashDb,
            ["Sources:hj:Type"] = "redis",
            ["Sources:hj:Mode"] = "hashes",
            ["Sources:hj:Pattern"] = "dev:*",
            ["Sources:hj:Interval"] = "300ms",
            ["Sources:hj:Format"] = "json",
            ["Sources:hj:Json:Measurement"] = "devices",
            ["Sources:hj:Json:Tags:device"] = "\"@key\"",
            ["Sources:hj:Json:Fields:temp"] = "temp",
            ["Sources:hj:Json:FieldTypes:temp"] = "float",
            ["Sources:hj:Database"] = JsonHashDb,
            ["Sources:hn:Type"] = "redis",
            ["Sources:hn:Mode"] = "hashes",
            ["Sources:hn:Pattern"] = "node:*",
            ["Sources:hn:Measurement"] = "nodes",
            ["Sources:hn:NumericOnly"] = "true",
            ["Sources:hn:Interval"] = "300ms",
            ["Sources:hn:Database"] = NodeDb,
            ["Sources:bad:Type"] = "redis",
            ["Sources:bad:Mode"] = "stream",
            ["Sources:bad:Stream"] = "bad:in",
            ["Sources:bad:Group"] = "ingest",
            ["Sources:bad:Field"] = "lp",
            ["Sources:bad:Database"] = BadDb,
            ["Sources:cl:Type"] = "redis",
            ["Sources:cl:Mode"] = "stream",
            ["Sources:cl:Stream"] = "cl:in",
            ["Sources:cl:Group"] = "ingest",
            ["Sources:cl:ClaimIdle"] = "1s",
            ["Sources:cl:Database"] = ClaimDb,
        });
        Redis = await ConnectionMultiplexer.ConnectAsync(Stack.Redis.ConnectionString);
        // Subscribed, groups created: what is produced from now on is read.
        await RedisSourceTests.WaitConnectedAsync(Stack.Daemon, "ps", "st", "li", "hs", "hn", "bad", "cl");
    }

    public async Task DisposeAsync()
    {
        Redis?.Dispose();
        if (Stack is not null) await Stack.DisposeAsync();
    }
}

/// <summary>
/// The <c>redis</c> source type against a real redis-server and influxd: each mode's points land as produced;
/// pub/sub resumes after the server comes back; streams and lists lose nothing to a kill -9; bad entries are
/// counted while the good ones land; bad settings stop the start naming the key.
/// </summary>
public class RedisSourceTests(RedisSourcesFixture fixture) : IClassFixture<RedisSourcesFixture>
{
    private IngestStack Stack => fixture.Stack;
    private IDatabase Db => fixture.Redis.GetDatabase();

    [Fact]
    public async Task Pubsub_messages_of_a_channel_and_of_a_pattern_land_with_their_tags_fields_and_times()
    {
        Assert.Equal(1, await Db.PublishAsync(RedisChannel.Literal("metrics"), "cpu,host=a used=0.5,n=3i 1700000000000000000\ncpu,host=b used=0.25 1700000001000000000"));
        Assert.Equal(1, await Db.PublishAsync(RedisChannel.Literal("site.eu"), "temp,room=r1 c=21.5 1700000002000000000"));
        Assert.Equal(0, await Db.PublishAsync(RedisChannel.Literal("other"), "temp,room=r9 c=1 1700000003000000000"));

        Assert.Equal(2, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.PubSubDb, "cpu", 2, TimeSpan.FromSeconds(20)));
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.PubSubDb, "temp", 1, TimeSpan.FromSeconds(20)));
        var cpu = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.PubSubDb, "SELECT used, n FROM cpu GROUP BY host");
        Assert.Equal(["a", "b"], cpu.Select(s => s.Tags["host"]).Order());
        var a = cpu.Single(s => s.Tags["host"] == "a").Values.Single();
        Assert.Equal(1700000000000000000L, (long)InfluxRows.Number(a[0])!.Value);
        Assert.Equal(0.5, InfluxRows.Number(a[1]));
        Assert.Equal(3.0, InfluxRows.Number(a[2]));
        var temp = (await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.PubSubDb, "SELECT c FROM temp WHERE room = 'r1'")).Single().Values.Single();
        Assert.Equal(1700000002000000000L, (long)InfluxRows.Number(temp[0])!.Value);
        Assert.Equal(21.5, InfluxRows.Number(temp[1]));
        Assert.Empty(await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.PubSubDb, "SELECT c FROM temp WHERE room = 'r9'"));
    }

    [Fact]
    public async Task Stream_entries_land_and_are_acknowledged_only_once_admitted()
    {
        for (var i = 0; i < 50; i++)
            await Db.StreamAddAsync("st:in", [new("data", $"disk,dev=sda{i % 2} free={i}i {1700000000000000000L + i * 1_000_000_000L}"), new("note", "ignored")]);
        // Without a timestamp: the entry id's time.
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var id = await Db.StreamAddAsync("st:in", "data", "notime v=1");
        Assert.Equal(50, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.StreamDb, "disk", 50, TimeSpan.FromSeconds(20)));
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.StreamDb, "notime", 1, TimeSpan.FromSeconds(20)));

        var rows = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.StreamDb, "SELECT free FROM disk GROUP BY dev");
        Assert.Equal(["sda0", "sda1"], rows.Select(s => s.Tags["dev"]).Order());
        var sda1 = rows.Single(s => s.Tags["dev"] == "sda1").Values;
        Assert.Equal(25, sda1.Length);
        Assert.Equal(1700000001000000000L, (long)InfluxRows.Number(sda1[0][0])!.Value);
        Assert.Equal(1.0, InfluxRows.Number(sda1[0][1]));
        var notime = (await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.StreamDb, "SELECT v FROM notime")).Single().Values.Single();
        var idMs = long.Parse(id.ToString().Split('-')[0]);
        Assert.Equal(idMs * 1_000_000 + long.Parse(id.ToString().Split('-')[1]), notime[0].GetInt64()); // exact: a double would round it
        Assert.InRange(idMs, before - 1000, before + 5000);

        // Acknowledged: nothing stays pending in the group once the points are in.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await Db.StreamPendingAsync("st:in", "ingest")).PendingMessageCount == 0, TimeSpan.FromSeconds(10)),
            "entries still pending after their points landed");
    }

    [Fact]
    public async Task List_elements_land_oldest_first_and_leave_the_processing_list_once_admitted()
    {
        for (var i = 0; i < 30; i++)
            await Db.ListLeftPushAsync("li:in", $"queue,q=jobs depth={i}i {1700000000000000000L + i * 1_000_000_000L}");
        Assert.Equal(30, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.ListDb, "queue", 30, TimeSpan.FromSeconds(20)));
        var rows = (await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.ListDb, "SELECT depth FROM queue WHERE q = 'jobs'")).Single().Values;
        Assert.Equal(Enumerable.Range(0, 30).Select(i => (double)i), rows.Select(r => InfluxRows.Number(r[1])!.Value));
        Assert.Equal(Enumerable.Range(0, 30).Select(i => 1700000000000000000L + i * 1_000_000_000L), rows.Select(r => (long)InfluxRows.Number(r[0])!.Value));
        Assert.Equal(0, await Db.ListLengthAsync("li:in"));
        var processing = $"li:in:processing:{Environment.MachineName}";
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await Db.ListLengthAsync(processing) == 0, TimeSpan.FromSeconds(10)),
            $"{processing} still holds {await Db.ListLengthAsync(processing)} elements");
    }

    [Fact]
    public async Task Hashes_become_a_point_per_key_with_numbers_as_floats_and_text_as_strings_at_the_polls_time()
    {
        await Db.HashSetAsync("peer:a", [new("rtt", "12.5"), new("name", "alpha"), new("up", "1")]);
        await Db.HashSetAsync("peer:b", [new("rtt", "7"), new("name", "beta, \"the\" second")]);
        await Db.StringSetAsync("peer:not-a-hash", "x");
        await Db.HashSetAsync("node:n1", [new("load", "0.75"), new("role", "primary")]);
        var since = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;

        List<SeriesRows> peers = [];
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            peers = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.HashDb, $"SELECT last(rtt) AS rtt, last(\"name\") AS \"name\", last(up) AS up FROM peer WHERE time >= {since} GROUP BY \"key\"");
            return peers.Count == 2;
        }, TimeSpan.FromSeconds(20)), "no points of both peers: " + DaemonApi.Tail(Stack));
        var a = peers.Single(s => s.Tags["key"] == "a").Values.Single();
        Assert.Equal(12.5, InfluxRows.Number(a[1]));
        Assert.Equal("alpha", InfluxRows.Text(a[2]));
        Assert.Equal(1.0, InfluxRows.Number(a[3]));
        var b = peers.Single(s => s.Tags["key"] == "b").Values.Single();
        Assert.Equal(7.0, InfluxRows.Number(b[1]));
        Assert.Equal("beta, \"the\" second", InfluxRows.Text(b[2]));

        // One poll is one time for every key; the fields' types are what InfluxDB stored.
        var times = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.HashDb, $"SELECT rtt FROM peer WHERE time >= {since} GROUP BY \"key\"");
        var aTimes = times.Single(s => s.Tags["key"] == "a").Values.Select(r => (long)InfluxRows.Number(r[0])!.Value).ToHashSet();
        var bTimes = times.Single(s => s.Tags["key"] == "b").Values.Select(r => (long)InfluxRows.Number(r[0])!.Value).ToHashSet();
        Assert.NotEmpty(aTimes.Intersect(bTimes));
        var types = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.HashDb, "SHOW FIELD KEYS FROM peer");
        Assert.Equal(["name:string", "rtt:float", "up:float"], types.Single().Values.Select(r => $"{r[0].GetString()}:{r[1].GetString()}").Order());

        // NumericOnly, and a Measurement of its own.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await Stack.Influx.CountAsync(RedisSourcesFixture.NodeDb, "nodes") > 0, TimeSpan.FromSeconds(20)));
        var nodeFields = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.NodeDb, "SHOW FIELD KEYS FROM nodes");
        Assert.Equal(["load:float"], nodeFields.Single().Values.Select(r => $"{r[0].GetString()}:{r[1].GetString()}"));
        var tags = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.NodeDb, "SHOW TAG VALUES FROM nodes WITH KEY = \"key\"");
        Assert.Equal(["n1"], tags.Single().Values.Select(r => r[1].GetString()));
    }

    [Fact]
    public async Task Hashes_in_JSON_go_through_the_sources_JSON_mapping()
    {
        await Db.HashSetAsync("dev:a", [new("temp", "21.5"), new("room", "lab")]);
        await Db.HashSetAsync("dev:b", [new("temp", "19")]);
        List<SeriesRows> devices = [];
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            devices = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.JsonHashDb, "SELECT last(temp) FROM devices GROUP BY device");
            return devices.Count == 2;
        }, TimeSpan.FromSeconds(20)), "no points of both devices: " + DaemonApi.Tail(Stack));
        Assert.Equal(21.5, InfluxRows.Number(devices.Single(s => s.Tags["device"] == "dev:a").Values.Single()[1]));
        Assert.Equal(19.0, InfluxRows.Number(devices.Single(s => s.Tags["device"] == "dev:b").Values.Single()[1]));
        var types = await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.JsonHashDb, "SHOW FIELD KEYS FROM devices");
        Assert.Equal(["temp:float"], types.Single().Values.Select(r => $"{r[0].GetString()}:{r[1].GetString()}"));
    }

    [Fact]
    public async Task Bad_entries_mixed_into_good_ones_are_counted_and_the_good_points_land()
    {
        await Db.StreamAddAsync("bad:in", "lp", "m v=1 1000000000");
        await Db.StreamAddAsync("bad:in", "lp", "garbage");
        await Db.StreamAddAsync("bad:in", "lp", "m v=2 2000000000\nnot=a line\nm v=3 3000000000");
        await Db.StreamAddAsync("bad:in", "data", "m v=99 9000000000"); // not in the configured field
        await Db.StreamAddAsync("bad:in", "lp", "m v=4 4000000000");

        Assert.Equal(4, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.BadDb, "m", 4, TimeSpan.FromSeconds(20)));
        var values = (await InfluxRows.QueryAsync(Stack.Influx, RedisSourcesFixture.BadDb, "SELECT v FROM m")).Single().Values.Select(r => InfluxRows.Number(r[1])!.Value);
        Assert.Equal([1.0, 2, 3, 4], values);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await Stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"bad\"}") == 3, TimeSpan.FromSeconds(10)),
            $"decode errors: {await Stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"bad\"}")}");
        Assert.Equal(4, await Stack.Daemon.MetricAsync("ingest_source_points_total{source=\"bad\"}"));
        // The bad entries are settled too: nothing stays pending.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await Db.StreamPendingAsync("bad:in", "ingest")).PendingMessageCount == 0, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Entries_a_dead_consumer_left_pending_are_claimed_once_idle_for_ClaimIdle()
    {
        // Added and read by another consumer of the group in one transaction, so the source never sees them as new.
        var tran = Db.CreateTransaction();
        var added = Enumerable.Range(0, 20).Select(i => tran.StreamAddAsync("cl:in", "data", $"claimed v={i}i {1700000000000000000L + i * 1_000_000_000L}")).ToArray();
        var read = tran.StreamReadGroupAsync("cl:in", "ingest", "dead", StreamPosition.NewMessages, 100);
        Assert.True(await tran.ExecuteAsync());
        Assert.Equal(20, (await read).Length);
        var sw = Stopwatch.StartNew();

        Assert.Equal(20, await Stack.Influx.WaitForCountAsync(RedisSourcesFixture.ClaimDb, "claimed", 20, TimeSpan.FromSeconds(20)));
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(1), $"landed after {sw.Elapsed.TotalSeconds:0.00} s, before they were idle for ClaimIdle: not claimed");
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await Db.StreamPendingAsync("cl:in", "ingest")).PendingMessageCount == 0, TimeSpan.FromSeconds(10)),
            "claimed entries still pending after their points landed");
    }

    internal static async Task WaitConnectedAsync(DaemonProcess daemon, params string[] sources)
    {
        foreach (var source in sources)
            Assert.True(await DaemonApi.WaitUntilAsync(async () => await daemon.MetricAsync($"ingest_source_state{{source=\"{source}\",state=\"connected\"}}") == 1,
                TimeSpan.FromSeconds(20), pollMs: 50), $"source {source} not connected:\n{daemon.Output}");
    }
}

/// <summary>The <c>redis</c> source through restarts: of redis-server, and of the daemon itself (kill -9).</summary>
public class RedisSourceRestartTests
{
    [Fact]
    public async Task Pubsub_resumes_within_2_s_of_the_servers_return_with_its_subscriptions_sent_again()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Sources:ps:Type"] = "redis",
            ["Sources:ps:Mode"] = "pubsub",
            ["Sources:ps:Channels:0"] = "metrics",
            ["Sources:ps:Patterns:0"] = "site.*",
            ["Sources:ps:Database"] = "rs_reconnect",
        });
        await RedisSourceTests.WaitConnectedAsync(stack.Daemon, "ps");
        var took = new List<TimeSpan>();
        var ts = 1700000000000000000L;
        for (var round = 1; round <= 2; round++)
        {
            await stack.Redis.StopAsync();
            Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_source_state{source=\"ps\",state=\"backing_off\"}") == 1,
                TimeSpan.FromSeconds(10), pollMs: 50), "the source does not show the loss");
            await stack.Redis.StartAsync();
            var sw = Stopwatch.StartNew();
            // PUBLISH answers how many subscribers got the message: both subscriptions are back when both channels have one.
            while (await stack.Redis.CommandAsync("PUBLISH", "metrics", $"r,round={round} v=1 {ts += 1_000_000_000}") is not 1L
                   || await stack.Redis.CommandAsync("PUBLISH", "site.x", $"r,round={round} v=2 {ts += 1_000_000_000}") is not 1L)
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), "subscriptions not back after 15 s:\n" + stack.Daemon.Output);
                await Task.Delay(20);
            }
            took.Add(sw.Elapsed);
            // What is published from now on lands, from the channel and from the pattern.
            await stack.Redis.CommandAsync("PUBLISH", "metrics", $"back{round} v=1 {ts += 1_000_000_000}");
            await stack.Redis.CommandAsync("PUBLISH", "site.y", $"back{round} v=2 {ts += 1_000_000_000}");
            Assert.Equal(2, await stack.Influx.WaitForCountAsync("rs_reconnect", $"back{round}", 2, TimeSpan.FromSeconds(20)));
            Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"ps\"}") == round, TimeSpan.FromSeconds(10)),
                $"reconnects: {await stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"ps\"}")} after {round} restarts");
        }
        Assert.True(took.All(t => t < TimeSpan.FromSeconds(2)),
            $"from redis-server answering PING to both subscriptions back took {string.Join(", ", took.Select(t => $"{t.TotalSeconds:0.00} s"))}; each should be under 2 s");
    }

    [Fact]
    public async Task Sources_started_while_redis_is_down_read_within_seconds_of_its_return()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Sources:ps:Type"] = "redis",
            ["Sources:ps:Mode"] = "pubsub",
            ["Sources:ps:Channels:0"] = "metrics",
            ["Sources:ps:Database"] = "rs_down",
            ["Sources:st:Type"] = "redis",
            ["Sources:st:Mode"] = "stream",
            ["Sources:st:Stream"] = "st:in",
            ["Sources:st:Group"] = "ingest",
            ["Sources:st:Database"] = "rs_down",
        });
        await stack.Daemon.StopAsync();
        await stack.Redis.StopAsync();
        await stack.Daemon.StartAgainAsync();
        // Long enough for a runner's backoff to have grown past several seconds.
        await Task.Delay(TimeSpan.FromSeconds(8));
        await stack.Redis.StartAsync();
        var sw = Stopwatch.StartNew();
        while (await stack.Redis.CommandAsync("PUBLISH", "metrics", "ps v=1 1700000000000000000") is not 1L)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), "not subscribed 15 s after redis-server returned:\n" + stack.Daemon.Output);
            await Task.Delay(20);
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"subscribed {sw.Elapsed.TotalSeconds:0.00} s after redis-server returned");
        while (!await GroupExistsAsync(stack.Redis, "st:in", "ingest"))
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), "no group 15 s after redis-server returned:\n" + stack.Daemon.Output);
            await Task.Delay(20);
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"stream group made {sw.Elapsed.TotalSeconds:0.00} s after redis-server returned");
        await stack.Redis.CommandAsync("XADD", "st:in", "*", "data", "st v=1 1700000000000000000");
        Assert.True(await stack.Influx.WaitForCountAsync("rs_down", "ps", 1, TimeSpan.FromSeconds(20)) == 1, "pubsub point missing:\n" + stack.Daemon.Output);
        Assert.True(await stack.Influx.WaitForCountAsync("rs_down", "st", 1, TimeSpan.FromSeconds(20)) == 1, "stream point missing:\n" + stack.Daemon.Output);
    }

    private static async Task<bool> GroupExistsAsync(RedisServer redis, string stream, string group)
    {
        try
        {
            return await redis.CommandAsync("XINFO", "GROUPS", stream) is object?[] groups
                   && groups.OfType<object?[]>().Any(g => g.Contains(group));
        }
        catch (RedisErrorException)
        {
            return false; // no such key yet
        }
    }

    [Theory]
    [InlineData("stream")]
    [InlineData("list")]
    public async Task Every_entry_produced_while_the_daemon_is_killed_and_started_again_lands_once(string mode)
    {
        var settings = new Dictionary<string, string>
        {
            ["Sources:q:Type"] = "redis",
            ["Sources:q:Mode"] = mode,
            ["Sources:q:Database"] = "rs_kill",
        };
        if (mode == "stream")
        {
            settings["Sources:q:Stream"] = "q:in";
            settings["Sources:q:Group"] = "ingest";
        }
        else settings["Sources:q:Key"] = "q:in";
        await using var stack = await IngestStack.StartAsync(settings);
        await RedisSourceTests.WaitConnectedAsync(stack.Daemon, "q");
        using var redis = await ConnectionMultiplexer.ConnectAsync(stack.Redis.ConnectionString);
        var db = redis.GetDatabase();

        const int entries = 3000, linesPerEntry = 5;
        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < entries; i++)
            {
                var payload = string.Join('\n', Enumerable.Range(0, linesPerEntry).Select(l => $"k v={i}i {1700000000000000000L + (i * linesPerEntry + l) * 1000L}"));
                if (mode == "stream") await db.StreamAddAsync("q:in", "data", payload);
                else await db.ListLeftPushAsync("q:in", payload);
                if (i % 10 == 9) await Task.Delay(20); // about 6 s in all: the kill and the restart fall inside it
            }
        });
        // Killed while it reads, then started again while the producer goes on.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync("rs_kill", "k") > 500, TimeSpan.FromSeconds(20)));
        stack.Daemon.Kill();
        Assert.False(producer.IsCompleted, "the producer was done before the kill: the test proves nothing");
        Assert.True(await stack.Daemon.WaitForExitAsync());
        var atKill = await stack.Influx.CountAsync("rs_kill", "k");
        await stack.Daemon.StartAgainAsync();
        await producer;

        const long all = entries * linesPerEntry;
        // Well within ClaimIdle (1 min): what the killed daemon had read is delivered again because the new one reads
        // its own pending entries first, not because XAUTOCLAIM finds them idle later.
        var landed = await stack.Influx.WaitForCountAsync("rs_kill", "k", all, TimeSpan.FromSeconds(20));
        Assert.True(landed == all, $"{landed} of {all} points (distinct timestamps) landed; {atKill} at the kill\n{stack.Daemon.Output}");
        await Task.Delay(500);
        Assert.Equal(all, await stack.Influx.CountAsync("rs_kill", "k"));
    }
}

/// <summary>Bad <c>redis</c> settings stop the start, naming the key and the value.</summary>
public class RedisSourceConfigurationTests
{
    [Theory]
    [InlineData("--Sources:r:Mode=queue", "Sources:r:Mode = 'queue': expected one of: pubsub, stream, list, hashes")]
    [InlineData("", "Sources:r:Mode = '': a redis source needs a Mode")]
    [InlineData("--Sources:r:Mode=pubsub", "Sources:r:Channels = '': a redis source in pubsub mode needs Channels")]
    [InlineData("--Sources:r:Mode=stream --Sources:r:Group=g", "Sources:r:Stream = '': a redis source in stream mode needs the stream key")]
    [InlineData("--Sources:r:Mode=stream --Sources:r:Stream=s", "Sources:r:Group = '': a redis source in stream mode needs the consumer group")]
    [InlineData("--Sources:r:Mode=stream --Sources:r:Stream=s --Sources:r:Group=g --Sources:r:StartId=latest", "Sources:r:StartId = 'latest': expected $")]
    [InlineData("--Sources:r:Mode=list", "Sources:r:Key = '': a redis source in list mode needs the list key")]
    [InlineData("--Sources:r:Mode=hashes", "Sources:r:Pattern = '': a redis source in hashes mode needs the key pattern")]
    [InlineData("--Sources:r:Mode=hashes --Sources:r:Pattern=*", "Sources:r:Measurement = '': the pattern '*' has no plain prefix")]
    [InlineData("--Sources:r:Mode=pubsub --Sources:r:Channels=c --Sources:r:Stream=s", "unknown configuration key Sources:r:Stream")]
    [InlineData("--Sources:r:Mode=pubsub --Sources:r:Channels=c --Sources:r:Configuration=localhost:6379,password=secret,connectTimeout=soon", "Sources:r:Configuration = 'localhost:6379,password=***")]
    public async Task A_missing_or_bad_key_stops_the_start_naming_it(string settings, string expected)
    {
        string[] args = ["--Sources:r:Type=redis", .. settings.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--urls", $"http://127.0.0.1:{DaemonProcess.FreeLoopbackPort()}"];
        var (exit, output) = await DaemonProcess.RunToExitAsync(args);
        Assert.True(exit == 2, $"exit {exit}: {output}");
        Assert.Contains(expected, output);
    }
}
