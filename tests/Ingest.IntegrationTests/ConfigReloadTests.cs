using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// Reloading the configuration while the daemon runs (POST /api/config/reload, SIGHUP), against real influxd and
/// redis-server: under a steady write load nothing acknowledged is lost, an unchanged tier's windows still equal
/// InfluxDB's own GROUP BY time() and an unchanged rule's For progress is kept; tokens, rate limits and log levels
/// apply at once; a changed source is restarted alone and loses nothing; a bad file is refused whole.
/// What a reload may change sits in the test's configuration file; the stack's own settings come on the command line.
/// </summary>
public class ConfigReloadTests(ITestOutputHelper output)
{
    private const long S = RawDataSet.Second, M = RawDataSet.Minute;

    /// <summary>Event time of the For scenario, an hour after the load's points, in a database of its own.</summary>
    private const long T0 = RawDataSet.Base + 3600 * S;

    /// <summary>A flat configuration (<c>A:B:0:C</c> keys) as the JSON file a user would write.</summary>
    internal static string Json(IReadOnlyDictionary<string, string> flat)
    {
        var root = new JsonObject();
        foreach (var (key, value) in flat)
        {
            var node = root;
            var parts = key.Split(':');
            for (int i = 0; i < parts.Length - 1; i++)
            {
                if (node[parts[i]] is not JsonObject child) node[parts[i]] = child = new JsonObject();
                node = child;
            }
            node[parts[^1]] = value;
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>POST /api/config/reload; the answer's status and body.</summary>
    internal static async Task<(HttpStatusCode Status, JsonElement Body)> ReloadAsync(HttpClient client, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/config/reload");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var r = await client.SendAsync(request);
        var text = await r.Content.ReadAsStringAsync();
        // Refused before the endpoint (a rate limit's 429) or without a body (401): only the status says something.
        if (text.Length == 0) return (r.StatusCode, default);
        try
        {
            return (r.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
        }
        catch (JsonException)
        {
            throw new Xunit.Sdk.XunitException($"POST /api/config/reload answered {(int)r.StatusCode} with a body that is not JSON: {text}");
        }
    }

    private static string[] Strings(JsonElement body, string property) =>
        body.GetProperty(property).EnumerateArray().Select(e => e.GetString()!).ToArray();

    private static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// Tiers 1m (kept), 5m (removed by the reload) and, after it, 2m (added), over the load's measurements only: the For
    /// scenario's points, an hour later in event time, must not move the tiers' watermark. Rule boiler_hot: above 80,
    /// For 1m; after the reload also rule other_hot.
    /// </summary>
    private static Dictionary<string, string> Settings(RawDataSet data, bool reloaded)
    {
        var s = new Dictionary<string, string>
        {
            ["Thresholds:Rules:0:Name"] = "boiler_hot",
            ["Thresholds:Rules:0:Measurement"] = "boiler",
            ["Thresholds:Rules:0:Field"] = "temp",
            ["Thresholds:Rules:0:Crit"] = "80",
            ["Thresholds:Rules:0:For"] = "1m",
        };
        var tiers = reloaded ? new[] { ("1m", "1m"), ("2m", "2m") } : [("1m", "1m"), ("5m", "5m")];
        for (int t = 0; t < tiers.Length; t++)
        {
            s[$"Downsample:Tiers:{t}:Name"] = tiers[t].Item1;
            s[$"Downsample:Tiers:{t}:Interval"] = tiers[t].Item2;
            s[$"Downsample:Tiers:{t}:AllowedLateness"] = "30s";
            var measurements = data.Measurements.ToList();
            for (int i = 0; i < measurements.Count; i++) s[$"Downsample:Tiers:{t}:Measurements:{i}"] = measurements[i];
            s[$"Downsample:Tiers:{t}:Fields:0"] = "*";
            for (int i = 0; i < DownsampleOracle.Aggregates.Length; i++) s[$"Downsample:Tiers:{t}:Aggregates:{i}"] = DownsampleOracle.Aggregates[i].Suffix;
        }
        if (reloaded)
        {
            s["Thresholds:Rules:1:Name"] = "other_hot";
            s["Thresholds:Rules:1:Measurement"] = "other";
            s["Thresholds:Rules:1:Field"] = "v";
            s["Thresholds:Rules:1:Crit"] = "1";
        }
        return s;
    }

    [Fact]
    public async Task Under_steady_writes_a_reload_loses_no_acknowledged_point_and_keeps_unchanged_tiers_windows_and_rules_For_progress()
    {
        var data = new RawDataSet(20261207, 2000);
        await using var stack = await IngestStack.StartAsync(configJson: Json(Settings(data, reloaded: false)));
        var db = ServersFixture.UniqueName("reload");
        var alertDb = ServersFixture.UniqueName("reloadfor");

        // boiler,unit=1 breaches from t0 on, a point every 10 s; For 1m. The first 30 s go in before the reload.
        IEnumerable<string> Boiler(int fromSeconds, int toSeconds) => Enumerable.Range(0, (toSeconds - fromSeconds) / 10 + 1)
            .Select(i => fromSeconds + i * 10).Select(sec => $"boiler,unit=1 temp={Num(90 + sec / 10)} {T0 + sec * S}");
        await DaemonApi.WriteAsync(stack, alertDb, Boiler(0, 30), perRequest: 1);

        // The load: every point in event-time order, 37 lines a request every 10 ms, while the reload happens halfway.
        // Every request must be acknowledged (204).
        var ordered = data.Points.OrderBy(p => p.Timestamp).ToList();
        var chunks = ordered.Chunk(37).ToList();
        var acknowledged = 0;
        long sentUpTo = long.MinValue;
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writer = Task.Run(async () =>
        {
            for (int i = 0; i < chunks.Count; i++)
            {
                if (!reloaded.Task.IsCompleted) Volatile.Write(ref sentUpTo, chunks[i][^1].Timestamp);
                await DaemonApi.WriteAsync(stack, db, chunks[i].Select(p => p.ToLine()), perRequest: 37);
                Interlocked.Increment(ref acknowledged);
                if (i == chunks.Count / 2) halfway.TrySetResult();
                await Task.Delay(10);
            }
        });
        await Task.WhenAny(halfway.Task, writer);
        Assert.False(writer.IsFaulted, writer.Exception?.GetBaseException().Message);

        stack.Daemon.WriteConfig(Json(Settings(data, reloaded: true)));
        var (status, body) = await ReloadAsync(stack.Client);
        reloaded.TrySetResult();
        var reloadedAt = Volatile.Read(ref sentUpTo);
        output.WriteLine($"reload after {Volatile.Read(ref acknowledged)} of {chunks.Count} requests, load at {InfluxRows.Time(reloadedAt)}: {(int)status} {body}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("success", body.GetProperty("result").GetString());
        var applied = string.Join(" | ", Strings(body, "applied"));
        Assert.Contains("Thresholds:Rules: kept boiler_hot; changed none; added other_hot; removed none", applied);
        Assert.Contains("Downsample:Tiers: kept 1m; changed none; added 2m; removed 5m", applied);
        Assert.Empty(Strings(body, "restartRequired"));
        Assert.True(reloadedAt < ordered[^1].Timestamp - 4 * M, $"the load was nearly over at the reload ({InfluxRows.Time(reloadedAt)})");

        await DaemonApi.WriteAsync(stack, alertDb, Boiler(40, 110), perRequest: 1);
        await writer;

        // Nothing acknowledged is lost: every point of the load is in InfluxDB.
        string rawState = "";
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (rawState = await DownsampleOracleTests.RawCountsDifferAsync(stack.Influx, db, data)) == "", TimeSpan.FromSeconds(30)),
            $"acknowledged points missing from InfluxDB 30 s after the load: {rawState}\n{DaemonApi.Tail(stack)}");
        await DaemonApi.FlushAsync(stack);

        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        var measurements = data.Measurements.Select(m => (m, data.NumericFields(m))).ToList();
        // The kept tier, over the whole run: the windows open at the reload kept the points they held before it.
        var kept = await oracle.CompareWhenSettledAsync(measurements, "1m", TimeSpan.FromMinutes(1), data.From, data.To,
            Tolerance.Daemon, timeout: TimeSpan.FromSeconds(45), stableFor: TimeSpan.FromSeconds(5), log: output.WriteLine);
        if (kept.Count > 0) failures.Add("kept tier 1m: " + DownsampleOracle.Summarise(kept));
        // The new tier, from the first of its windows that began after the reload: it started with the next points.
        var firstWhole = (reloadedAt / (2 * M) + 1) * 2 * M;
        var added = await oracle.CompareWhenSettledAsync(measurements, "2m", TimeSpan.FromMinutes(2), firstWhole, data.To,
            Tolerance.Daemon, timeout: TimeSpan.FromSeconds(45), stableFor: TimeSpan.FromSeconds(5), log: output.WriteLine);
        if (added.Count > 0) failures.Add($"added tier 2m from {InfluxRows.Time(firstWhole)}: " + DownsampleOracle.Summarise(added));
        // The removed tier wrote the window it had open at the reload.
        var openAt = reloadedAt / (5 * M) * 5 * M;
        var removedRows = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT usage_count FROM cpu_5m WHERE time = {openAt}");
        if (removedRows.Count == 0) failures.Add($"removed tier 5m: its window open at the reload ({InfluxRows.Time(openAt)}) was not written");
        var after = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT usage_count FROM cpu_5m WHERE time > {openAt}");
        if (after.Count > 0) failures.Add($"removed tier 5m: windows after the reload were written: {after.Count} series");

        // The kept rule's For progress: exactly one event, crit at t0 + 60 s. Lost progress would fire at t0 + 100 s.
        await DaemonApi.WaitUntilAsync(async () => (await AlertRows.ReadAsync(stack.Influx, alertDb)).Any(r => r.Rule == "boiler_hot"), TimeSpan.FromSeconds(15));
        var events = (await AlertRows.ReadAsync(stack.Influx, alertDb)).Where(r => r.Rule == "boiler_hot").ToList();
        if (events.Count != 1 || events[0].Time != T0 + 60 * S || events[0].Level != "crit")
            failures.Add($"boiler_hot events: expected one crit at t0 + 60 s (For 1m from the first breach at t0, before the reload), got:\n{AlertRows.Describe(events)}");

        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack));
    }

    [Fact]
    public async Task A_bad_file_is_refused_whole_and_the_running_configuration_keeps_serving_while_a_good_one_applies_on_SIGHUP_with_restart_only_keys_reported()
    {
        var good = new Dictionary<string, string>
        {
            ["Thresholds:Rules:0:Name"] = "hot",
            ["Thresholds:Rules:0:Measurement"] = "room",
            ["Thresholds:Rules:0:Field"] = "temp",
            ["Thresholds:Rules:0:Crit"] = "30",
            ["Auth:RateLimitPerSecond"] = "0",
        };
        await using var stack = await IngestStack.StartAsync(configJson: Json(good));
        var db = ServersFixture.UniqueName("reloadbad");
        // Started again with SIGHUP at its default, which a test run under nohup would otherwise pass on ignored.
        await stack.Daemon.StopAsync();
        stack.Daemon.LaunchScript = DaemonProcess.DefaultSighup;
        await stack.Daemon.StartAgainAsync();

        // A rate limit and a second rule, beside a value that cannot be read: none of it may apply.
        var bad = new Dictionary<string, string>(good)
        {
            ["Auth:RateLimitPerSecond"] = "1",
            ["Auth:RateLimitBurst"] = "1",
            ["Thresholds:Rules:1:Name"] = "cold",
            ["Thresholds:Rules:1:Measurement"] = "room",
            ["Thresholds:Rules:1:Field"] = "temp",
            ["Thresholds:Rules:1:Crit"] = "warm",
            ["Thresholds:Rules:1:Direction"] = "below",
        };
        stack.Daemon.WriteConfig(Json(bad));
        var (status, body) = await ReloadAsync(stack.Client);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("failure", body.GetProperty("result").GetString());
        Assert.Contains("Thresholds:Rules:1:Crit", body.GetProperty("error").GetString());
        Assert.Contains("'warm'", body.GetProperty("error").GetString());

        // The old configuration serves: no rate limit (ten requests in a row pass), one rule, and the old rule fires.
        for (int i = 0; i < 10; i++)
        {
            using var r = await stack.Client.GetAsync("api/status");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        await DaemonApi.WriteAsync(stack, db, [$"room,id=1 temp=35 {RawDataSet.Base}", $"room,id=2 temp=5 {RawDataSet.Base}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await DaemonApi.ActiveAlertsAsync(stack)).Any(a => DaemonApi.Prop(a, "rule") == "hot"), TimeSpan.FromSeconds(10)),
            "the rule of the running configuration did not fire after a refused reload\n" + DaemonApi.Tail(stack));
        Assert.DoesNotContain(await DaemonApi.ActiveAlertsAsync(stack), a => DaemonApi.Prop(a, "rule") == "cold");
        Assert.Equal(1, await stack.Daemon.MetricAsync("ingest_config_reloads_total{result=\"failure\"}"));
        Assert.Equal(0, await stack.Daemon.MetricAsync("ingest_config_reloads_total{result=\"success\"}"));
        Assert.Equal(0, await stack.Daemon.MetricAsync("ingest_config_last_reload_successful"));
        using (var statusDoc = JsonDocument.Parse(await stack.Client.GetStringAsync("api/status")))
        {
            var last = statusDoc.RootElement.GetProperty("config").GetProperty("lastReload");
            Assert.Equal("failure", last.GetProperty("result").GetString());
            Assert.Contains("Thresholds:Rules:1:Crit", last.GetProperty("error").GetString());
        }

        // Fixed, with a key that needs a restart: SIGHUP applies the rest and names that key.
        var fixedFile = new Dictionary<string, string>(bad) { ["Thresholds:Rules:1:Crit"] = "10", ["Buffer:Capacity"] = "123456", ["Auth:RateLimitPerSecond"] = "0" };
        stack.Daemon.WriteConfig(Json(fixedFile));
        stack.Daemon.Hangup();
        JsonElement lastReload = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await stack.Client.GetStringAsync("api/config/reload"));
            lastReload = doc.RootElement.GetProperty("lastReload").Clone();
            return lastReload.GetProperty("trigger").GetString() == "signal";
        }, TimeSpan.FromSeconds(10)), "SIGHUP did not reload\n" + DaemonApi.Tail(stack));
        Assert.Equal("success", lastReload.GetProperty("result").GetString());
        Assert.Equal(["Buffer:Capacity"], Strings(lastReload, "restartRequired"));
        Assert.Equal(1, await stack.Daemon.MetricAsync("ingest_config_reloads_total{result=\"success\"}"));
        Assert.Equal(1, await stack.Daemon.MetricAsync("ingest_config_last_reload_successful"));
        // Not applied: the buffer keeps the capacity it started with.
        Assert.Equal(1_000_000, await stack.Daemon.MetricAsync("ingest_buffer_capacity"));

        // The rest applied: the rule added by the reload fires.
        await DaemonApi.WriteAsync(stack, db, [$"room,id=2 temp=4 {RawDataSet.Base + S}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await DaemonApi.ActiveAlertsAsync(stack)).Any(a => DaemonApi.Prop(a, "rule") == "cold"), TimeSpan.FromSeconds(10)),
            "the rule added by the reload did not fire\n" + DaemonApi.Tail(stack));
    }

    private static string Sha256(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    [Fact]
    public async Task Tokens_rate_limits_log_levels_and_live_settings_apply_at_once()
    {
        const string admin = "admin-secret-1", writer = "writer-secret-2", viewer = "viewer-secret-3";
        var before = new Dictionary<string, string>
        {
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "ops",
            ["Auth:Tokens:0:Sha256"] = Sha256(admin),
            ["Auth:Tokens:0:Scopes:0"] = "admin",
            ["Auth:Tokens:0:Scopes:1"] = "write",
            ["Live:FlushInterval"] = "50ms",
        };
        await using var stack = await IngestStack.StartAsync(configJson: Json(before));
        var db = ServersFixture.UniqueName("reloadauth");

        async Task<HttpStatusCode> WriteWith(string token, string series)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"write?db={db}") { Content = new StringContent($"m,s={series} v=1 {RawDataSet.Base}\n") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
            using var r = await stack.Client.SendAsync(request);
            return r.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await WriteWith(writer, "w"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await ReloadAsync(stack.Client)).Status);

        // Nothing changed: the reload says so at Information, and says nothing at Debug.
        var (status, body) = await ReloadAsync(stack.Client, admin);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Empty(Strings(body, "applied"));
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(stack.Daemon.Output.Contains("Configuration reloaded (api)")), TimeSpan.FromSeconds(5)));
        Assert.DoesNotContain("Configuration reload (api) compared", stack.Daemon.Output);

        // Two series in the live state before the reload.
        Assert.Equal(HttpStatusCode.NoContent, await WriteWith(admin, "1"));
        Assert.Equal(HttpStatusCode.NoContent, await WriteWith(admin, "2"));
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_live_series") == 2, TimeSpan.FromSeconds(10)),
            "the live state did not track the two series\n" + DaemonApi.Tail(stack));

        var after = new Dictionary<string, string>(before)
        {
            ["Auth:Tokens:1:Name"] = "telegraf",
            ["Auth:Tokens:1:Sha256"] = Sha256(writer),
            ["Auth:Tokens:1:Scopes:0"] = "write",
            ["Auth:Tokens:2:Name"] = "wallboard",
            ["Auth:Tokens:2:Sha256"] = Sha256(viewer),
            ["Auth:Tokens:2:Scopes:0"] = "read",
            ["Auth:RateLimitPerSecond"] = "1",
            ["Auth:RateLimitBurst"] = "1",
            ["Logging:LogLevel:Ingest.Hosting.Reload"] = "Debug",
            ["Live:MaxSeries"] = "2",
        };
        stack.Daemon.WriteConfig(Json(after));
        (status, body) = await ReloadAsync(stack.Client, admin);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(Strings(body, "applied"), a => a.StartsWith("Auth: 3 tokens, rate limit 1/s burst 1", StringComparison.Ordinal));
        Assert.Contains("Logging", Strings(body, "applied"));
        Assert.Contains("Live", Strings(body, "applied"));
        Assert.Empty(Strings(body, "restartRequired"));

        // The new token is taken, and its bucket holds one request: the second one at once is refused.
        Assert.Equal(HttpStatusCode.NoContent, await WriteWith(writer, "w"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await WriteWith(writer, "w"));
        // Live:MaxSeries 2: a third series is counted, not tracked.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_live_series_untracked_total") >= 1, TimeSpan.FromSeconds(10)),
            "a series beyond the new Live:MaxSeries was not refused\n" + DaemonApi.Tail(stack));
        Assert.Equal(2, await stack.Daemon.MetricAsync("ingest_live_series"));
        // The Debug line of the same reload, written before its Information line.
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(stack.Daemon.Output.Contains("Configuration reload (api) compared")), TimeSpan.FromSeconds(5)),
            "the log level set by the reload did not apply\n" + DaemonApi.Tail(stack));

        // A feed stream opened with the wallboard's token and one with the admin's, both past their snapshot.
        using var wallboard = await SseStream.OpenAsync(stack.Daemon, "?channel=points&measurement=m", r => r.Headers.Authorization = new("Bearer", viewer));
        using var adminStream = await SseStream.OpenAsync(stack.Daemon, "?channel=points&measurement=m", r => r.Headers.Authorization = new("Bearer", admin));
        Assert.Equal("snapshot", (await wallboard.NextAsync())?.Name);
        Assert.Equal("snapshot", (await adminStream.NextAsync())?.Name);

        // The writer's and the wallboard's tokens removed again: refused at once, and the wallboard's open stream is
        // closed, while the admin's, whose token did not change, goes on. The admin's bucket refills at 1/s.
        stack.Daemon.WriteConfig(Json(before));
        HttpStatusCode last = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (last = (await ReloadAsync(stack.Client, admin)).Status) != HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(5), pollMs: 500));
        Assert.Equal(HttpStatusCode.OK, last);
        Assert.Equal(HttpStatusCode.Unauthorized, await WriteWith(writer, "w"));
        var lastEvents = new List<SseEvent>();
        try
        {
            while (await wallboard.NextAsync(TimeSpan.FromSeconds(10)) is { } e) lastEvents.Add(e);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("the stream of a removed token stayed open: " + string.Join(" | ", lastEvents.Select(e => $"{e.Name} {e.Data}")));
        }
        Assert.Contains(lastEvents, e => e.Name == "close" && e.Data.GetProperty("reason").GetString()!.Contains("closed by a configuration reload"));
        Assert.Equal(HttpStatusCode.NoContent, await WriteWith(admin, "after"));
        SseEvent? update;
        try
        {
            do update = await adminStream.NextAsync(TimeSpan.FromSeconds(10));
            while (update is not null && !(update.Name == "points" && update.Data.GetRawText().Contains("\"s\":\"after\"")));
        }
        catch (OperationCanceledException)
        {
            update = null;
        }
        Assert.True(update is not null, "the admin's stream did not go on after the reload");
    }

    [Fact]
    public async Task A_log_level_removed_from_the_file_stays_removed_through_later_reloads()
    {
        var debug = new Dictionary<string, string> { ["Logging:LogLevel:Ingest.Hosting.Reload"] = "Debug" };
        await using var stack = await IngestStack.StartAsync(configJson: Json(debug));
        int Compared() => CountLines(stack.Daemon.Output, "Configuration reload (api) compared");
        async Task ReloadAndWaitAsync(int reloads)
        {
            Assert.Equal(HttpStatusCode.OK, (await ReloadAsync(stack.Client)).Status);
            // Its Information line, written after the Debug one it may have, through the same logger.
            Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(CountLines(stack.Daemon.Output, "Configuration reloaded (api)") == reloads), TimeSpan.FromSeconds(5)));
        }

        await ReloadAndWaitAsync(1);
        Assert.Equal(1, Compared());
        // The level removed: the reload that removes it no longer logs at Debug, nor does a later one that changes
        // another logging key (the start's file still holds the removed level beneath).
        stack.Daemon.WriteConfig(Json(new Dictionary<string, string>()));
        await ReloadAndWaitAsync(2);
        stack.Daemon.WriteConfig(Json(new Dictionary<string, string> { ["Logging:LogLevel:Ingest.Sources"] = "Warning" }));
        await ReloadAndWaitAsync(3);
        Assert.Equal(1, Compared());
    }

    private static int CountLines(string log, string what) => log.Split('\n').Count(l => l.Contains(what, StringComparison.Ordinal));

    [Fact]
    public async Task A_changed_source_is_restarted_alone_and_its_at_least_once_stream_loses_nothing_across_it()
    {
        var udpPort = FreePort.Next();
        var udpSettings = new Dictionary<string, string>
        {
            ["Sources:dgrams:Type"] = "udp",
            ["Sources:dgrams:Listen"] = $"127.0.0.1:{udpPort}",
        };
        var db = ServersFixture.UniqueName("reloadsrc");
        Dictionary<string, string> Settings(string phase) => new(udpSettings)
        {
            ["Sources:events:Type"] = "redis",
            ["Sources:events:Mode"] = "stream",
            ["Sources:events:Stream"] = "reload:in",
            ["Sources:events:Group"] = "ingest",
            ["Sources:events:Database"] = db,
            ["Sources:events:BatchInterval"] = "20ms",
            ["Sources:events:Tags:phase"] = phase,
            ["Sources:dgrams:Database"] = db,
        };
        await using var stack = await IngestStack.StartAsync(configJson: Json(Settings("a")));
        using var redis = await ConnectionMultiplexer.ConnectAsync(stack.Redis.ConnectionString);
        var stream = redis.GetDatabase();
        await RedisSourceTests.WaitConnectedAsync(stack.Daemon, "events", "dgrams");

        // Entries go in steadily while the source is restarted with another tag.
        const int Entries = 3000;
        var produced = 0;
        var producer = Task.Run(async () =>
        {
            for (int i = 0; i < Entries; i++)
            {
                await stream.StreamAddAsync("reload:in", "data", $"ev,n={i % 7} v={i}i {RawDataSet.Base + i * 1_000_000L}");
                Volatile.Write(ref produced, i + 1);
                if (i % 50 == 0) await Task.Delay(5);
            }
        });
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref produced) >= Entries / 3), TimeSpan.FromSeconds(30)));
        stack.Daemon.WriteConfig(Json(Settings("b")));
        var (status, body) = await ReloadAsync(stack.Client);
        output.WriteLine($"reload after {Volatile.Read(ref produced)} entries: {(int)status} {body}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["Sources:events restarted"], Strings(body, "applied"));
        await producer;

        // Every entry landed once, and the ones read after the restart carry the new tag.
        Assert.Equal(Entries, await stack.Influx.WaitForCountAsync(db, "ev", Entries, TimeSpan.FromSeconds(30)));
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (await stream.StreamPendingAsync("reload:in", "ingest")).PendingMessageCount == 0, TimeSpan.FromSeconds(10)),
            "entries still pending after their points landed");
        var phases = await InfluxRows.QueryAsync(stack.Influx, db, "SELECT count(v) FROM ev GROUP BY phase");
        var byPhase = phases.ToDictionary(s => s.Tags.GetValueOrDefault("phase", ""), s => (long)InfluxRows.Number(s.Values[0][1])!.Value);
        output.WriteLine("points by phase: " + string.Join(", ", byPhase.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(byPhase.GetValueOrDefault("a") > 0 && byPhase.GetValueOrDefault("b") > 0, "expected points of both phases: " + string.Join(", ", byPhase));

        // The UDP source was not touched: started once, and still taking datagrams.
        Assert.Equal(1, Started(stack.Daemon.Output, "dgrams"));
        Assert.Equal(2, Started(stack.Daemon.Output, "events"));
        using var udp = new UdpClient();
        udp.Connect(IPAddress.Loopback, udpPort);
        await udp.SendAsync(Encoding.UTF8.GetBytes($"dg v=1 {RawDataSet.Base}\n"));
        Assert.Equal(1, await stack.Influx.WaitForCountAsync(db, "dg", 1, TimeSpan.FromSeconds(20)));
    }

    /// <summary>How often the log says the source started ("Source NAME (type, delivery) started").</summary>
    private static int Started(string log, string source) =>
        log.Split('\n').Count(l => l.Contains($"Source {source} (", StringComparison.Ordinal) && l.TrimEnd().EndsWith(") started", StringComparison.Ordinal));
}
