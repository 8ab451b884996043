using System.Globalization;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// Threshold alerts end to end: points through the daemon, alert events read back from InfluxDB's <c>alerts</c>
/// measurement and from <c>GET /api/alerts</c>; pending <c>For</c> progress must survive a graceful restart.
/// Each test has a private stack (its own Redis holds the alert state).
/// </summary>
public class AlertRestartTests
{
    private const long S = RawDataSet.Second;
    /// <summary>2026-01-01T01:00:00Z: event time, unrelated to the wall clock.</summary>
    private const long T0 = RawDataSet.Base + 3600 * S;

    /// <summary>
    /// cpu_high: cpu.usage above 80 / 90 for 1m, series with host matching a*. mem_high: mem.used above 80 / 90 with
    /// hysteresis (WARN lets go at 70, CRIT at 85) and no For. heartbeat: hb.up below 0.5, NODATA after 1m of silence.
    /// </summary>
    private static Dictionary<string, string> RuleSettings() => new()
    {
        ["Thresholds:Measurement"] = "alerts",
        ["Thresholds:Rules:0:Name"] = "cpu_high",
        ["Thresholds:Rules:0:Measurement"] = "cpu",
        ["Thresholds:Rules:0:Field"] = "usage",
        ["Thresholds:Rules:0:Direction"] = "above",
        ["Thresholds:Rules:0:Warn"] = "80",
        ["Thresholds:Rules:0:Crit"] = "90",
        ["Thresholds:Rules:0:For"] = "1m",
        ["Thresholds:Rules:0:KeepFiringFor"] = "0s",
        ["Thresholds:Rules:0:Tags:host"] = "a*",
        ["Thresholds:Rules:1:Name"] = "mem_high",
        ["Thresholds:Rules:1:Measurement"] = "mem",
        ["Thresholds:Rules:1:Field"] = "used",
        ["Thresholds:Rules:1:Direction"] = "above",
        ["Thresholds:Rules:1:Warn"] = "80",
        ["Thresholds:Rules:1:Crit"] = "90",
        ["Thresholds:Rules:1:WarnReset"] = "70",
        ["Thresholds:Rules:1:CritReset"] = "85",
        ["Thresholds:Rules:1:For"] = "0s",
        ["Thresholds:Rules:2:Name"] = "heartbeat",
        ["Thresholds:Rules:2:Measurement"] = "hb",
        ["Thresholds:Rules:2:Field"] = "up",
        ["Thresholds:Rules:2:Direction"] = "below",
        ["Thresholds:Rules:2:Crit"] = "0.5",
        ["Thresholds:Rules:2:NoDataTimeout"] = "1m",
    };

    private static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static JsonElement[] AlertsOf(JsonElement[] active, string rule) =>
        active.Where(a => DaemonApi.Prop(a, "rule") == rule).ToArray();

    private static string Show(JsonElement[] active) => active.Length == 0 ? "[]" : "[" + string.Join(", ", active.Select(a => a.GetRawText())) + "]";

    private static async Task<string> RedisKeysAsync(IngestStack stack)
    {
        try
        {
            var keys = await stack.Redis.CommandAsync("KEYS", "*") as object?[];
            return "redis keys: " + (keys is null || keys.Length == 0 ? "(none)" : string.Join(", ", keys.Select(k => k?.ToString())));
        }
        catch (Exception ex)
        {
            return "redis keys: " + ex.Message;
        }
    }

    /// <param name="stopRightAfterWrite">
    /// false: the first 30 s are processed (and the state saved on its interval) before the stop; true: SIGTERM as soon
    /// as the write is acknowledged, so the points are evaluated while draining and the state must be saved at shutdown.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pending_For_progress_survives_a_graceful_restart_so_crit_fires_one_minute_after_the_first_breach(bool stopRightAfterWrite)
    {
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var db = ServersFixture.UniqueName("alert");
        // host=a breaches CRIT from t0 on, a point every 10 s with a distinct value; host=b too, but the rule takes only a*.
        double ValueAt(int seconds) => 91 + seconds / 10 * 0.5;
        IEnumerable<string> Lines(int fromSeconds, int toSeconds) =>
            Enumerable.Range(0, (toSeconds - fromSeconds) / 10 + 1).Select(i => fromSeconds + i * 10)
                .SelectMany(sec => new[]
                {
                    $"cpu,host=a usage={Num(ValueAt(sec))} {T0 + sec * S}",
                    $"cpu,host=b usage=99 {T0 + sec * S}",
                });

        await DaemonApi.WriteAsync(stack, db, Lines(0, 30), perRequest: stopRightAfterWrite ? 8 : 2);
        var failures = new List<string>();
        if (!stopRightAfterWrite)
        {
            Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "cpu") == 8, TimeSpan.FromSeconds(20)),
                "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
            await Task.Delay(1500); // an (erroneous) alert event would be written with the same flush; the state is saved every 1 s
            var activeBefore = await DaemonApi.ActiveAlertsAsync(stack);
            if (AlertsOf(activeBefore, "cpu_high").Length > 0)
                failures.Add($"after 30 s of breach (For 1m) GET /api/alerts already lists cpu_high: {Show(activeBefore)}");
        }
        var redisBefore = await RedisKeysAsync(stack);

        await stack.Daemon.StopAsync();
        Assert.True(stack.Daemon.HasExited, "daemon did not stop");
        await stack.Daemon.StartAgainAsync();
        // Stopping drained the buffer: the first 30 s are stored, and no event for them.
        Assert.Equal(8, await stack.Influx.CountAsync(db, "cpu"));
        var eventsBefore = (await AlertRows.ReadAsync(stack.Influx, db)).Where(r => r.Rule == "cpu_high").ToList();
        if (eventsBefore.Count > 0)
            failures.Add($"after 30 s of breach (For 1m) the alerts measurement already has cpu_high events:\n{AlertRows.Describe(eventsBefore)}");

        await DaemonApi.WriteAsync(stack, db, Lines(40, 110), perRequest: 2);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "cpu") == 24, TimeSpan.FromSeconds(20)),
            "raw points after the restart did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.WaitUntilAsync(async () => (await AlertRows.ReadAsync(stack.Influx, db)).Any(r => r.Rule == "cpu_high"), TimeSpan.FromSeconds(15));
        await Task.Delay(1000); // and anything after it
        var events = (await AlertRows.ReadAsync(stack.Influx, db)).Where(r => r.Rule == "cpu_high").ToList();
        var active = await DaemonApi.ActiveAlertsAsync(stack);

        // Exactly one event: OK -> CRIT at t0 + 60 s (WARN and CRIT held for the same minute, so it goes straight to CRIT).
        long expectedTime = T0 + 60 * S;
        if (events.Count != 1 || events[0].Time != expectedTime)
        {
            string diagnosis = events.FirstOrDefault(e => e.Level == "crit") is { } crit
                ? crit.Time == T0 + 100 * S
                    ? " — it fired 60 s after the first point after the restart: the pending For progress (critSince/warnSince) was not restored"
                    : $" — first crit at t0 + {AlertRows.Seconds(crit.Time, T0)}"
                : " — no crit event at all (a lost For progress would have fired at t0 + 100 s, which was sent)";
            failures.Add($"cpu_high events: expected exactly one, level=crit at {InfluxRows.Time(expectedTime)} (t0 + 60 s, 1m after the first breach at t0), " +
                         $"got {events.Count}{diagnosis}:\n{AlertRows.Describe(events)}\n  {await AlertRows.WhereAreTheyAsync(stack.Influx)}");
        }
        if (events.Count == 1 && events[0].Time == expectedTime)
        {
            var e = events[0];
            var wrong = new List<string>();
            if (e.Level != "crit") wrong.Add($"level tag '{e.Level}', expected 'crit'");
            if (e.Tags.GetValueOrDefault("measurement") != "cpu") wrong.Add($"measurement tag '{e.Tags.GetValueOrDefault("measurement")}', expected 'cpu'");
            if (e.Tags.GetValueOrDefault("host") != "a") wrong.Add($"host tag '{e.Tags.GetValueOrDefault("host")}', expected 'a'");
            if (e.Value != ValueAt(60)) wrong.Add($"value {InfluxRows.Fmt(e.Value)}, expected {Num(ValueAt(60))} (the point at t0 + 60 s)");
            if (e.Previous != "ok") wrong.Add($"previous '{e.Previous}', expected 'ok'");
            if (e.Message is null || !e.Message.Contains("CRIT", StringComparison.Ordinal)) wrong.Add($"message '{e.Message}' does not say CRIT");
            if (wrong.Count > 0) failures.Add($"the crit event {e}: {string.Join("; ", wrong)}");
        }

        var cpuActive = AlertsOf(active, "cpu_high");
        if (cpuActive.Length != 1
            || DaemonApi.Prop(cpuActive[0], "seriesKey") != "cpu,host=a"
            || !string.Equals(DaemonApi.Prop(cpuActive[0], "level"), "crit", StringComparison.OrdinalIgnoreCase)
            || string.IsNullOrEmpty(DaemonApi.Prop(cpuActive[0], "id")))
            failures.Add($"GET /api/alerts: expected one cpu_high alert with an id, seriesKey 'cpu,host=a' and level crit, got {Show(active)}");

        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\n{redisBefore} (before the restart)\n{await RedisKeysAsync(stack)} (now)\n" + DaemonApi.Tail(stack, 30));
    }

    [Fact]
    public async Task Levels_go_ok_warn_crit_and_back_with_hysteresis_and_each_transition_is_one_event_in_InfluxDB()
    {
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var db = ServersFixture.UniqueName("hyst");
        // mem_high: Warn 80 / reset 70, Crit 90 / reset 85, no For. One point every 10 s.
        double[] values = [50, 85, 95, 88, 84, 75, 95, 60, 75, 80];
        (int Index, string Level, string Previous)[] expected =
        [
            (1, "warn", "ok"),   // 85 > 80
            (2, "crit", "warn"), // 95 > 90
            // 88: still CRIT, above CritReset 85
            (4, "warn", "crit"), // 84 <= 85 lets CRIT go; WARN holds (84 > WarnReset 70)
            // 75: still WARN, above WarnReset 70
            (6, "crit", "warn"), // 95 again
            (7, "ok", "crit"),   // 60 <= 70: both levels let go at once
            // 75: OK stays (below Warn 80; hysteresis only holds a fired level). 80: equal to Warn is no breach.
        ];
        var lines = values.Select((v, i) => $"mem,host=x used={Num(v)} {T0 + i * 10 * S}").ToArray();
        var failures = new List<string>();

        await DaemonApi.WriteAsync(stack, db, lines[..3], perRequest: 1);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "mem") == 3, TimeSpan.FromSeconds(20)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        JsonElement[] active = [];
        await DaemonApi.WaitUntilAsync(async () =>
        {
            active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
            return active.Length == 1 && string.Equals(DaemonApi.Prop(active[0], "level"), "crit", StringComparison.OrdinalIgnoreCase);
        }, TimeSpan.FromSeconds(10));
        if (active.Length != 1 || DaemonApi.Prop(active[0], "seriesKey") != "mem,host=x"
                               || !string.Equals(DaemonApi.Prop(active[0], "level"), "crit", StringComparison.OrdinalIgnoreCase))
            failures.Add($"after 50, 85, 95: GET /api/alerts should list mem_high on 'mem,host=x' at crit, got {Show(active)}");

        await DaemonApi.WriteAsync(stack, db, lines[3..], perRequest: 3);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "mem") == values.Length, TimeSpan.FromSeconds(20)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.WaitUntilAsync(async () => (await AlertRows.ReadAsync(stack.Influx, db)).Count(r => r.Rule == "mem_high") >= expected.Length, TimeSpan.FromSeconds(15));
        await Task.Delay(1000);
        var events = (await AlertRows.ReadAsync(stack.Influx, db)).Where(r => r.Rule == "mem_high").ToList();

        var want = expected.Select(x => $"{InfluxRows.Time(T0 + x.Index * 10 * S)} level={x.Level} previous={x.Previous} value={Num(values[x.Index])}").ToList();
        var got = events.Select(e => $"{InfluxRows.Time(e.Time)} level={e.Level} previous={e.Previous} value={InfluxRows.Fmt(e.Value)}").ToList();
        if (!got.SequenceEqual(want))
            failures.Add($"mem_high events for values [{string.Join(", ", values)}] every 10 s from {InfluxRows.Time(T0)}:\n  expected:\n    " +
                         string.Join("\n    ", want) + "\n  actual:\n    " + (got.Count == 0 ? "(none)" : string.Join("\n    ", got)) +
                         $"\n  {await AlertRows.WhereAreTheyAsync(stack.Influx)}");
        foreach (var e in events)
        {
            var wrong = new List<string>();
            if (e.Tags.GetValueOrDefault("measurement") != "mem") wrong.Add("measurement tag is not 'mem'");
            if (e.Tags.GetValueOrDefault("host") != "x") wrong.Add("host tag is not 'x'");
            if (e.Message is null || !e.Message.Contains(e.Level.ToUpperInvariant(), StringComparison.Ordinal)) wrong.Add($"message does not say {e.Level.ToUpperInvariant()}");
            if (wrong.Count > 0) failures.Add($"event {e}: {string.Join("; ", wrong)}");
        }

        var finalActive = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        if (finalActive.Length != 0) failures.Add($"back at OK, GET /api/alerts still lists mem_high: {Show(finalActive)}");

        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// Alert events go to the database of the points that caused them; a NODATA event belongs to the silent series'
    /// database, also when the silence is noticed while a batch of another database advances the watermark.
    /// </summary>
    [Fact]
    public async Task A_nodata_event_is_written_to_the_database_of_the_silent_series()
    {
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var quiet = ServersFixture.UniqueName("quiet");
        var busy = ServersFixture.UniqueName("busy");
        // host=a reports twice into one database and falls silent; host=b keeps reporting into another for 3 minutes.
        await DaemonApi.WriteAsync(stack, quiet, [$"hb,host=a up=1 {T0}", $"hb,host=a up=1 {T0 + 10 * S}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(quiet, "hb") == 2, TimeSpan.FromSeconds(20)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.WriteAsync(stack, busy, Enumerable.Range(0, 19).Select(i => $"hb,host=b up=1 {T0 + i * 10 * S}"), perRequest: 1);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(busy, "hb") == 19, TimeSpan.FromSeconds(20)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.WaitUntilAsync(async () => (await AlertRows.ReadAsync(stack.Influx, quiet)).Count + (await AlertRows.ReadAsync(stack.Influx, busy)).Count > 0,
            TimeSpan.FromSeconds(10));
        await Task.Delay(1000);

        var inQuiet = await AlertRows.ReadAsync(stack.Influx, quiet);
        var inBusy = await AlertRows.ReadAsync(stack.Influx, busy);
        var active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "heartbeat");
        var failures = new List<string>();
        // The deadline: last point (t0 + 10 s) + 1m.
        var want = $"{InfluxRows.Time(T0 + 70 * S)} host=a level=nodata previous=ok";
        var got = inQuiet.Select(e => $"{InfluxRows.Time(e.Time)} host={e.Tags.GetValueOrDefault("host")} level={e.Level} previous={e.Previous}").ToList();
        if (got.Count != 1 || got[0] != want)
            failures.Add($"alerts in the silent series' database '{quiet}': expected exactly [{want}], got:\n{AlertRows.Describe(inQuiet)}");
        if (inBusy.Count > 0)
            failures.Add($"alerts in '{busy}', whose series host=b never left OK (the NODATA of host=a was noticed while one of its batches was processed):\n{AlertRows.Describe(inBusy)}");
        if (active.Length != 1 || DaemonApi.Prop(active[0], "seriesKey") != "hb,host=a" || !string.Equals(DaemonApi.Prop(active[0], "level"), "nodata", StringComparison.OrdinalIgnoreCase))
            failures.Add($"GET /api/alerts: expected heartbeat on 'hb,host=a' at nodata, got {Show(active)}");
        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\n{await AlertRows.WhereAreTheyAsync(stack.Influx)}\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>
    /// Alert events still in memory when the daemon is killed (influxd down, so they could not be delivered) are
    /// written after the restart: the state in Redis is not saved ahead of them, and the log's records are checked
    /// again against it. The same series key in a second database is its own alert, with its own event.
    /// </summary>
    [Fact]
    public async Task Alert_events_undelivered_at_a_kill_are_derived_again_and_written_after_the_restart()
    {
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var db = ServersFixture.UniqueName("alertkill");
        var other = ServersFixture.UniqueName("alertkill2");
        await stack.Influx.StopAsync();

        // mem_high (Crit 90, CritReset 85, no For): five hosts go OK -> CRIT at t0 + 10 s, h0 and h1 back to OK at t0 + 20 s.
        var hosts = Enumerable.Range(0, 5).Select(i => $"h{i}").ToArray();
        await DaemonApi.WriteAsync(stack, db, hosts.Select(h => $"mem,host={h} used=50 {T0}"), perRequest: 5);
        await DaemonApi.WriteAsync(stack, db, hosts.Select(h => $"mem,host={h} used=95 {T0 + 10 * S}"), perRequest: 2);
        await DaemonApi.WriteAsync(stack, db, hosts[..2].Select(h => $"mem,host={h} used=60 {T0 + 20 * S}"), perRequest: 1);
        // The same series key as h0 in another database: CRIT there, and it stays so.
        await DaemonApi.WriteAsync(stack, other, [$"mem,host=h0 used=95 {T0 + 10 * S}"]);
        var expected = hosts.Select(h => $"{InfluxRows.Time(T0 + 10 * S)} host={h} level=crit previous=ok")
            .Concat(hosts[..2].Select(h => $"{InfluxRows.Time(T0 + 20 * S)} host={h} level=ok previous=crit"))
            .Order(StringComparer.Ordinal).ToList();
        var expectedOther = new[] { $"{InfluxRows.Time(T0 + 10 * S)} host=h0 level=crit previous=ok" };

        JsonElement[] active = [];
        Assert.True(await DaemonApi.WaitUntilAsync(async () => AlertsOf(active = await DaemonApi.ActiveAlertsAsync(stack), "mem_high").Length == 4, TimeSpan.FromSeconds(10)),
            $"before the kill GET /api/alerts should list h2, h3, h4 and the other database's h0, got {Show(active)}\n" + DaemonApi.Tail(stack));
        // Long enough for the states to be saved twice over (Thresholds:StateFlushInterval 1 s), were they saved ahead of their events.
        await Task.Delay(2500);
        var savedBeforeKill = await stack.Redis.CommandAsync("HLEN", "ingest:alerts:state");
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");

        await stack.Influx.StartAsync();
        await stack.Daemon.StartAgainAsync();
        await DaemonApi.WaitUntilAsync(async () =>
            (await AlertRows.ReadAsync(stack.Influx, db)).Count >= expected.Count && (await AlertRows.ReadAsync(stack.Influx, other)).Count >= 1,
            TimeSpan.FromSeconds(20));
        await Task.Delay(1000); // and anything after them

        static List<string> Describe(List<AlertRow> rows) => rows.Where(r => r.Rule == "mem_high")
            .Select(e => $"{InfluxRows.Time(e.Time)} host={e.Tags.GetValueOrDefault("host")} level={e.Level} previous={e.Previous}")
            .Order(StringComparer.Ordinal).ToList();
        var got = Describe(await AlertRows.ReadAsync(stack.Influx, db));
        var gotOther = Describe(await AlertRows.ReadAsync(stack.Influx, other));
        var failures = new List<string>();
        if (!got.SequenceEqual(expected))
            failures.Add($"alert events in '{db}' after kill -9 and restart: expected\n    {string.Join("\n    ", expected)}\ngot\n    {string.Join("\n    ", got)}");
        if (!gotOther.SequenceEqual(expectedOther))
            failures.Add($"alert events in '{other}' (same series key as h0, own state): expected [{expectedOther[0]}], got [{string.Join(", ", gotOther)}]");

        active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        var activeNow = active.Select(a => $"{DaemonApi.Prop(a, "database")}:{DaemonApi.Prop(a, "seriesKey")}={DaemonApi.Prop(a, "level")}").Order(StringComparer.Ordinal).ToList();
        var wantActive = hosts[2..].Select(h => $"{db}:mem,host={h}=crit").Append($"{other}:mem,host=h0=crit").Order(StringComparer.Ordinal).ToList();
        if (!activeNow.SequenceEqual(wantActive))
            failures.Add($"GET /api/alerts after the restart: expected [{string.Join(", ", wantActive)}], got [{string.Join(", ", activeNow)}]");
        Assert.True(failures.Count == 0, string.Join("\n", failures) +
            $"\nalert states in Redis just before the kill: {savedBeforeKill}\n{await RedisKeysAsync(stack)}\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// A Redis that restarts without persistence comes back empty (so does one flushed): the daemon must write every
    /// alert state to it again, not only those that change afterwards (none do here), so that a daemon restart after
    /// that still restores the crit alert. The keys carry a non-default <c>Redis:KeyPrefix</c>.
    /// </summary>
    /// <param name="restartRedis">
    /// true: redis-server is stopped and started again (the client reconnects); false: FLUSHALL on the running server,
    /// the connection stays up (as behind a proxy whose server restarted).
    /// </param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Alert_states_are_written_again_after_Redis_comes_back_empty_so_a_daemon_restart_keeps_the_crit_alert(bool restartRedis)
    {
        const string Prefix = "site3:";
        const string StateKey = Prefix + "alerts:state";
        var settings = RuleSettings();
        settings["Redis:KeyPrefix"] = Prefix;
        await using var stack = await IngestStack.StartAsync(settings);
        var db = ServersFixture.UniqueName("redisempty");
        // mem_high (Warn 80, Crit 90, no For): x goes to CRIT, y to WARN, z is evaluated and stays OK: three states.
        await DaemonApi.WriteAsync(stack, db, [$"mem,host=x used=95 {T0}", $"mem,host=y used=85 {T0}", $"mem,host=z used=50 {T0}"]);
        JsonElement[] active = [];
        object? hlen = null;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
                AlertsOf(active = await DaemonApi.ActiveAlertsAsync(stack), "mem_high").Length == 2
                && (hlen = await stack.Redis.CommandAsync("HLEN", StateKey)) is 3L,
                TimeSpan.FromSeconds(15)),
            $"before the Redis restart: expected mem_high on x (crit) and y (warn) in GET /api/alerts and 3 states in {StateKey}, " +
            $"got {Show(active)} and HLEN {hlen}\n{await RedisKeysAsync(stack)}\n" + DaemonApi.Tail(stack));

        if (restartRedis)
        {
            await stack.Redis.StopAsync();
            await stack.Redis.StartAsync(); // no persistence: comes back empty
            Assert.Equal(0L, await stack.Redis.CommandAsync("DBSIZE"));
        }
        else
        {
            Assert.Equal("OK", await stack.Redis.CommandAsync("FLUSHALL"));
        }
        // No point is written from here on: nothing changes a state, so only a full rewrite brings them back.
        var failures = new List<string>();
        var written = await DaemonApi.WaitUntilAsync(async () => (hlen = await stack.Redis.CommandAsync("HLEN", StateKey)) is 3L,
            TimeSpan.FromSeconds(15), pollMs: 100);
        var activeBefore = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        if (!written)
            failures.Add($"15 s after Redis {(restartRedis ? "restarted empty" : "was flushed")} HLEN {StateKey} is {hlen}, expected 3, while GET /api/alerts lists {Show(activeBefore)}");
        else if (!stack.Daemon.Output.Contains("Redis may have lost the alert states", StringComparison.Ordinal))
            failures.Add("the states were written again, but the daemon did not log that Redis may have lost them");
        var redisBefore = await RedisKeysAsync(stack);

        await stack.Daemon.StopAsync();
        Assert.True(stack.Daemon.HasExited, "daemon did not stop");
        await stack.Daemon.StartAgainAsync();
        active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        var activeNow = active.Select(a => $"{DaemonApi.Prop(a, "seriesKey")}={DaemonApi.Prop(a, "level")?.ToLowerInvariant()}").Order(StringComparer.Ordinal).ToList();
        string[] wantActive = ["mem,host=x=crit", "mem,host=y=warn"];
        if (!activeNow.SequenceEqual(wantActive))
            failures.Add($"GET /api/alerts after the daemon restart: expected [{string.Join(", ", wantActive)}], got [{string.Join(", ", activeNow)}]");
        Assert.True(failures.Count == 0, string.Join("\n", failures) +
            $"\n{redisBefore} (before the daemon restart)\n{await RedisKeysAsync(stack)} (now)\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>The level of every alert state in the hash <paramref name="key"/>, by series key.</summary>
    private static async Task<Dictionary<string, string>> SavedLevelsAsync(IngestStack stack, string key)
    {
        var reply = await stack.Redis.CommandAsync("HGETALL", key) as object?[] ?? [];
        var levels = new Dictionary<string, string>();
        for (var i = 1; i < reply.Length; i += 2)
        {
            var state = JsonDocument.Parse((string)reply[i]!).RootElement;
            levels[DaemonApi.Prop(state, "seriesKey")!] = DaemonApi.Prop(state, "level")!.ToLowerInvariant();
        }
        return levels;
    }

    private static string Show(Dictionary<string, string> levels) =>
        "{" + string.Join(", ", levels.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}")) + "}";

    /// <summary>
    /// A Redis that restarts from an older snapshot still has the state hash, with a state that has changed since:
    /// the daemon must write every state again over it, or a daemon restart brings back the old level.
    /// </summary>
    [Fact]
    public async Task Alert_states_are_written_again_over_an_older_snapshot_Redis_restarts_from()
    {
        const string StateKey = "ingest:alerts:state";
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var db = ServersFixture.UniqueName("redisold");
        // mem_high (Warn 80 / reset 70, Crit 90, no For): x CRIT, y WARN, z OK.
        await DaemonApi.WriteAsync(stack, db, [$"mem,host=x used=95 {T0}", $"mem,host=y used=85 {T0}", $"mem,host=z used=50 {T0}"]);
        var levels = new Dictionary<string, string>();
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (levels = await SavedLevelsAsync(stack, StateKey)).Count == 3, TimeSpan.FromSeconds(15)),
            $"states in {StateKey}: {Show(levels)}, expected 3\n" + DaemonApi.Tail(stack));
        // The snapshot redis-server loads when it starts again (its own saves are off).
        Assert.Equal("OK", await stack.Redis.CommandAsync("SAVE"));

        // y goes back to OK (50 <= WarnReset 70) after the snapshot.
        await DaemonApi.WriteAsync(stack, db, [$"mem,host=y used=50 {T0 + 10 * S}"]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (levels = await SavedLevelsAsync(stack, StateKey)).GetValueOrDefault("mem,host=y") == "ok",
            TimeSpan.FromSeconds(15)), $"y back at OK did not reach {StateKey}: {Show(levels)}\n" + DaemonApi.Tail(stack));

        await stack.Redis.StopAsync();
        await stack.Redis.StartAsync();
        var loaded = await SavedLevelsAsync(stack, StateKey);
        Assert.Equal(3, loaded.Count); // the snapshot's states (y at warn, unless the daemon was quicker)
        var failures = new List<string>();
        if (!await DaemonApi.WaitUntilAsync(async () => (levels = await SavedLevelsAsync(stack, StateKey)).GetValueOrDefault("mem,host=y") == "ok",
                TimeSpan.FromSeconds(15), pollMs: 100))
            failures.Add($"15 s after Redis restarted from the older snapshot {Show(loaded)}, {StateKey} still has {Show(levels)}: y should be ok");

        await stack.Daemon.StopAsync();
        Assert.True(stack.Daemon.HasExited, "daemon did not stop");
        await stack.Daemon.StartAgainAsync();
        var active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        var activeNow = active.Select(a => $"{DaemonApi.Prop(a, "seriesKey")}={DaemonApi.Prop(a, "level")?.ToLowerInvariant()}").Order(StringComparer.Ordinal).ToList();
        if (!activeNow.SequenceEqual(["mem,host=x=crit"]))
            failures.Add($"GET /api/alerts after the daemon restart: expected [mem,host=x=crit], got [{string.Join(", ", activeNow)}]");
        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\n{await RedisKeysAsync(stack)}\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// A save holds every state changed since the last (all series a rule evaluated): thousands are written in
    /// several commands and all of them come back after a restart.
    /// </summary>
    [Fact]
    public async Task Thousands_of_alert_states_are_saved_and_restored_across_a_restart()
    {
        await using var stack = await IngestStack.StartAsync(RuleSettings());
        var db = ServersFixture.UniqueName("many");
        const int Hosts = 4_500;
        await DaemonApi.WriteAsync(stack, db, Enumerable.Range(0, Hosts).Select(h => $"mem,host=m{h} used=95 {T0}"), perRequest: 500);
        object? saved = null;
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (saved = await stack.Redis.CommandAsync("HLEN", "ingest:alerts:state")) is long n && n == Hosts,
            TimeSpan.FromSeconds(30)), $"alert states in Redis: {saved}, expected {Hosts}\n" + DaemonApi.Tail(stack));

        await stack.Daemon.StopAsync();
        await stack.Daemon.StartAgainAsync();
        var active = AlertsOf(await DaemonApi.ActiveAlertsAsync(stack), "mem_high");
        Assert.Equal(Hosts, active.Length);
        Assert.All(active, a => Assert.Equal("crit", DaemonApi.Prop(a, "level")));
    }
}
