using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The live state of every series in Redis, against a real redis-server and influxd: latest values and
/// timestamps, writes coalesced per flush interval (counted with INFO commandstats), expiry, and the full
/// state written again after Redis restarts empty.
/// </summary>
public class LiveStateTests
{
    private const long T0 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    private static async Task<Dictionary<string, string>> HashAsync(RedisServer redis, string key)
    {
        var reply = await redis.CommandAsync("HGETALL", key) as object?[] ?? [];
        var d = new Dictionary<string, string>();
        for (var i = 0; i + 1 < reply.Length; i += 2) d[(string)reply[i]!] = (string)reply[i + 1]!;
        return d;
    }

    private static string Show(Dictionary<string, string> h) =>
        h.Count == 0 ? "(missing)" : "{" + string.Join(", ", h.OrderBy(e => e.Key).Select(e => $"{e.Key}={e.Value}")) + "}";

    /// <summary>Calls of HSET and HMSET (StackExchange.Redis sends HMSET for several fields) so far.</summary>
    private static Task<long> HashWritesAsync(RedisServer redis) => CallsAsync(redis, "hset", "hmset");

    private static async Task<long> CallsAsync(RedisServer redis, params string[] commands)
    {
        var info = (string)(await redis.CommandAsync("INFO", "commandstats"))!;
        long calls = 0;
        foreach (var line in info.Split('\n'))
        {
            if (!commands.Any(c => line.StartsWith($"cmdstat_{c}:", StringComparison.Ordinal))) continue;
            var c = line.Split(':', 2)[1].Split(',').First(p => p.StartsWith("calls=", StringComparison.Ordinal));
            calls += long.Parse(c["calls=".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        return calls;
    }

    private static string Key(string db, string series) => $"ingest:live:{db}:{series}";

    [Fact]
    public async Task Latest_value_and_timestamp_of_every_field_of_every_series_is_in_Redis()
    {
        await using var stack = await IngestStack.StartAsync();
        var db = ServersFixture.UniqueName("live");
        await DaemonApi.WriteAsync(stack, db,
        [
            $"cpu,host=a usage=10,idle=90 {T0}",
            $"cpu,host=a usage=20 {T0 + 2}",
            $"cpu,host=a usage=15,idle=85 {T0 + 1}", // older for usage: ignored; newer for idle
            // An integer field of its own: usage is a float, and InfluxDB (so the daemon) refuses another type for it.
            $"cpu,host=b procs=30i,up=true,state=\"ok\" {T0}",
            $"mem,host=a used=1.5 {T0 + 5}",
        ], perRequest: 2);

        var expected = new Dictionary<string, Dictionary<string, string>>
        {
            [Key(db, "cpu,host=a")] = new() { ["usage"] = "20", ["usage:ts"] = $"{T0 + 2}", ["idle"] = "85", ["idle:ts"] = $"{T0 + 1}" },
            [Key(db, "cpu,host=b")] = new() { ["procs"] = "30", ["procs:ts"] = $"{T0}", ["up"] = "true", ["up:ts"] = $"{T0}", ["state"] = "ok", ["state:ts"] = $"{T0}" },
            [Key(db, "mem,host=a")] = new() { ["used"] = "1.5", ["used:ts"] = $"{T0 + 5}" },
        };
        var actual = new Dictionary<string, Dictionary<string, string>>();
        var ok = await DaemonApi.WaitUntilAsync(async () =>
        {
            foreach (var key in expected.Keys) actual[key] = await HashAsync(stack.Redis, key);
            return expected.All(e => e.Value.OrderBy(x => x.Key).SequenceEqual(actual[e.Key].OrderBy(x => x.Key)));
        }, TimeSpan.FromSeconds(10));
        Assert.True(ok, string.Join("\n", expected.Keys.Select(k => $"{k}: expected {Show(expected[k])}, got {Show(actual[k])}")) + "\n" + DaemonApi.Tail(stack));

        foreach (var key in expected.Keys)
        {
            var ttl = (long)(await stack.Redis.CommandAsync("TTL", key))!;
            Assert.InRange(ttl, 500, 660); // Live:Expiry defaults to 10m, renewed with a tenth as margin
            var score = await stack.Redis.CommandAsync("ZSCORE", "ingest:live:series", key["ingest:live:".Length..]);
            Assert.NotNull(score);
            var ms = double.Parse((string)score!, CultureInfo.InvariantCulture);
            Assert.InRange(ms, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
        }
    }

    [Fact]
    public async Task Many_updates_of_the_same_series_are_coalesced_to_one_write_per_flush_interval()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Live:FlushInterval"] = "250ms" });
        var db = ServersFixture.UniqueName("livec");
        const int Series = 10, Requests = 200;
        await DaemonApi.WriteAsync(stack, db, [$"warm v=0 {T0}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await HashAsync(stack.Redis, Key(db, "warm"))).Count > 0, TimeSpan.FromSeconds(10)),
            "warm-up series never reached Redis\n" + DaemonApi.Tail(stack));

        var before = await HashWritesAsync(stack.Redis);
        var sw = Stopwatch.StartNew();
        var requests = Enumerable.Range(0, Requests).Select(r =>
            string.Join('\n', Enumerable.Range(0, Series).Select(s => $"cpu,host=h{s} v={r}i {T0 + r}")));
        await Task.WhenAll(requests.Chunk(Requests / 4).Select(chunk => DaemonApi.WriteAsync(stack, db, chunk, perRequest: 1)));
        var last = Requests - 1;
        var landed = await DaemonApi.WaitUntilAsync(async () =>
        {
            foreach (var s in Enumerable.Range(0, Series))
                if ((await HashAsync(stack.Redis, Key(db, $"cpu,host=h{s}"))).GetValueOrDefault("v") != $"{last}") return false;
            return true;
        }, TimeSpan.FromSeconds(10), pollMs: 50);
        sw.Stop();
        Assert.True(landed, $"the last values (v={last}) did not all reach Redis; host=h0 is {Show(await HashAsync(stack.Redis, Key(db, "cpu,host=h0")))}\n" + DaemonApi.Tail(stack));
        await Task.Delay(600); // anything still to come
        var writes = await HashWritesAsync(stack.Redis) - before;
        var elapsed = sw.Elapsed + TimeSpan.FromMilliseconds(600);
        var bound = Series * (elapsed.TotalMilliseconds / 250 + 2);
        Assert.True(writes <= bound && writes >= Series,
            $"{Requests} requests × {Series} series in {elapsed.TotalMilliseconds:0} ms took {writes} HSET/HMSET calls; " +
            $"coalesced per 250 ms flush that is at most {bound:0} (uncoalesced would be {Requests * Series})");
    }

    [Fact]
    public async Task A_series_written_at_every_flush_gets_its_TTL_once_not_at_every_write()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Live:FlushInterval"] = "50ms" });
        var db = ServersFixture.UniqueName("livet");
        const int Series = 5, Rounds = 4;
        var hashesBefore = await HashWritesAsync(stack.Redis);
        var expiresBefore = await CallsAsync(stack.Redis, "expire", "pexpire");
        for (var r = 0; r < Rounds; r++)
        {
            // Each round waits until its values are in Redis, so every round is a flush of its own.
            await DaemonApi.WriteAsync(stack, db, Enumerable.Range(0, Series).Select(s => $"cpu,host=h{s} v={r}i {T0 + r}").ToArray());
            var round = r;
            Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            {
                foreach (var s in Enumerable.Range(0, Series))
                    if ((await HashAsync(stack.Redis, Key(db, $"cpu,host=h{s}"))).GetValueOrDefault("v") != $"{round}") return false;
                return true;
            }, TimeSpan.FromSeconds(10), pollMs: 20), $"round {r} did not reach Redis\n" + DaemonApi.Tail(stack));
        }
        var hashes = await HashWritesAsync(stack.Redis) - hashesBefore;
        var expires = await CallsAsync(stack.Redis, "expire", "pexpire") - expiresBefore;
        Assert.True(hashes >= Series * Rounds, $"{Rounds} rounds of {Series} series took only {hashes} hash writes");
        // Live:Expiry is 10 min: the TTL set with each new key lasts past the next renewal point (a minute on).
        Assert.True(expires == Series, $"{hashes} hash writes of {Series} series took {expires} EXPIRE/PEXPIRE calls; one per new key was expected");
        foreach (var s in Enumerable.Range(0, Series))
            Assert.InRange((long)(await stack.Redis.CommandAsync("TTL", Key(db, $"cpu,host=h{s}")))!, 590, 660);
    }

    [Fact]
    public async Task Series_not_written_for_the_expiry_disappear_from_Redis()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Live:Expiry"] = "2s" });
        var db = ServersFixture.UniqueName("livee");
        var key = Key(db, "cpu,host=a");
        await DaemonApi.WriteAsync(stack, db, [$"cpu,host=a v=1 {T0}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await HashAsync(stack.Redis, key)).Count > 0, TimeSpan.FromSeconds(10), pollMs: 50),
            "series never reached Redis\n" + DaemonApi.Tail(stack));
        var pttl = (long)(await stack.Redis.CommandAsync("PTTL", key))!;
        Assert.InRange(pttl, 1, 2200);

        var sw = Stopwatch.StartNew();
        var gone = await DaemonApi.WaitUntilAsync(async () =>
            (long)(await stack.Redis.CommandAsync("EXISTS", key))! == 0
            && await stack.Redis.CommandAsync("ZSCORE", "ingest:live:series", $"{db}:cpu,host=a") is null,
            TimeSpan.FromSeconds(6), pollMs: 100);
        Assert.True(gone, $"after {sw.Elapsed.TotalSeconds:0.0} s the key or its index entry is still there: " +
                          $"{Show(await HashAsync(stack.Redis, key))}, index score {await stack.Redis.CommandAsync("ZSCORE", "ingest:live:series", $"{db}:cpu,host=a")}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4.5), $"expired only after {sw.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task After_Redis_restarts_empty_the_full_live_state_is_written_again_and_ingest_never_stopped()
    {
        await using var stack = await IngestStack.StartAsync();
        var db = ServersFixture.UniqueName("liver");
        var before = Enumerable.Range(0, 5).Select(i => $"cpu,host=a{i} v={i} {T0 + i}").ToArray();
        await DaemonApi.WriteAsync(stack, db, before);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await HashAsync(stack.Redis, Key(db, "cpu,host=a4"))).Count > 0, TimeSpan.FromSeconds(10)),
            "series never reached Redis\n" + DaemonApi.Tail(stack));

        await stack.Redis.StopAsync();
        // Ingest goes on (every write answered 204, points reach InfluxDB), and /ready says degraded.
        var during = Enumerable.Range(0, 5).Select(i => $"cpu,host=b{i} v={10 + i} {T0 + i}").ToArray();
        await DaemonApi.WriteAsync(stack, db, during, perRequest: 1);
        Assert.Equal(10, await stack.Influx.WaitForCountAsync(db, "cpu", 10, TimeSpan.FromSeconds(10)));
        string ready = "";
        var degraded = await DaemonApi.WaitUntilAsync(async () =>
        {
            using var r = await stack.Client.GetAsync("ready");
            ready = await r.Content.ReadAsStringAsync();
            return JsonDocument.Parse(ready).RootElement.GetProperty("status").GetString() == "degraded";
        }, TimeSpan.FromSeconds(10), pollMs: 250);
        Assert.True(degraded, "/ready while Redis is down: " + ready);

        await stack.Redis.StartAsync(); // no persistence: comes back empty
        Assert.Equal(0L, await stack.Redis.CommandAsync("DBSIZE"));
        var sw = Stopwatch.StartNew();
        var all = before.Concat(during).Select(l => (Series: l.Split(' ')[0], Value: l.Split(' ')[1]["v=".Length..])).ToArray();
        var missing = new List<string>();
        var restored = await DaemonApi.WaitUntilAsync(async () =>
        {
            missing.Clear();
            foreach (var (series, value) in all)
                if ((await HashAsync(stack.Redis, Key(db, series))).GetValueOrDefault("v") != value) missing.Add(series);
            return missing.Count == 0;
        }, TimeSpan.FromSeconds(10), pollMs: 100);
        Assert.True(restored, $"{sw.Elapsed.TotalSeconds:0.0} s after Redis came back these series are not (correctly) in it: {string.Join(", ", missing)}\n" + DaemonApi.Tail(stack));
        var members = await stack.Redis.CommandAsync("ZCARD", "ingest:live:series");
        Assert.Equal(10L, members);
    }

    [Fact]
    public async Task The_pipeline_status_is_kept_in_Redis_with_an_expiry()
    {
        await using var stack = await IngestStack.StartAsync();
        using (var write = await stack.Client.PostAsync("write?db=status", new StringContent("st v=1 1\nst v=2 2\nst v=3 3")))
            Assert.Equal(System.Net.HttpStatusCode.NoContent, write.StatusCode);
        System.Text.Json.JsonElement status = default;
        Assert.True(await Oracle.DaemonApi.WaitUntilAsync(async () =>
        {
            if (await stack.Redis.CommandAsync("GET", "ingest:status") is not string json) return false;
            status = System.Text.Json.JsonDocument.Parse(json).RootElement.Clone();
            return status.GetProperty("stages").EnumerateArray().Any(x => x.GetProperty("name").GetString() == "http" && x.GetProperty("received").GetInt64() >= 3);
        }, TimeSpan.FromSeconds(10)), status.ToString());
        Assert.False(status.GetProperty("paused").GetBoolean());
        Assert.Contains(status.GetProperty("stages").EnumerateArray(), x => x.GetProperty("name").GetString() == "influx");
        var ttl = (long)(await stack.Redis.CommandAsync("TTL", "ingest:status"))!;
        Assert.InRange(ttl, 1, 30);
    }

    [Fact]
    public async Task With_a_key_prefix_every_key_the_daemon_writes_carries_it()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Redis:KeyPrefix"] = "site2:",
            ["Thresholds:Rules:0:Name"] = "cpu_high",
            ["Thresholds:Rules:0:Measurement"] = "cpu",
            ["Thresholds:Rules:0:Field"] = "usage",
            ["Thresholds:Rules:0:Warn"] = "80",
        });
        var db = ServersFixture.UniqueName("livep");
        await DaemonApi.WriteAsync(stack, db, [$"cpu,host=a usage=95 {T0}"]);
        string[] expected = [$"site2:live:{db}:cpu,host=a", "site2:live:series", "site2:status", "site2:alerts:state", "site2:alerts:watermark"];
        string[] keys = [];
        var all = await DaemonApi.WaitUntilAsync(async () =>
        {
            keys = ((object?[])(await stack.Redis.CommandAsync("KEYS", "*"))!).Select(k => (string)k!).ToArray();
            return expected.All(keys.Contains);
        }, TimeSpan.FromSeconds(15));
        Assert.True(all, $"keys in Redis: {string.Join(", ", keys)}; expected among them: {string.Join(", ", expected)}\n" + DaemonApi.Tail(stack));
        Assert.All(keys, k => Assert.StartsWith("site2:", k));
    }
}
