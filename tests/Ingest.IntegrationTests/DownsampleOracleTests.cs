using System.Globalization;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// Downsampling end to end with InfluxDB as the oracle: raw points go through the daemon, and every series window
/// the daemon writes (<c>m_1m</c>, <c>m_5m</c>) must equal InfluxQL's own aggregates of the raw points it forwarded
/// to the same database (<c>GROUP BY time(…), *</c>). Each test has a private stack: the tiers' watermarks are
/// shared by every database, and a flush closes every window.
/// </summary>
public class DownsampleOracleTests(ITestOutputHelper output)
{
    private const long S = RawDataSet.Second, M = RawDataSet.Minute, T0 = RawDataSet.Base;
    private static readonly TimeSpan OneMinute = TimeSpan.FromMinutes(1), FiveMinutes = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lateness = TimeSpan.FromMinutes(2);

    /// <summary>A 1m tier with every aggregate and 2m of allowed lateness, and a 5m tier merged from it.</summary>
    internal static Dictionary<string, string> TierSettings()
    {
        var s = new Dictionary<string, string>
        {
            ["Downsample:Tiers:0:Name"] = "1m",
            ["Downsample:Tiers:0:Interval"] = "1m",
            ["Downsample:Tiers:0:Measurements:0"] = "*",
            ["Downsample:Tiers:0:Fields:0"] = "*",
            ["Downsample:Tiers:0:AllowedLateness"] = "2m",
            ["Downsample:Tiers:0:RetentionPolicy"] = "",
            ["Downsample:Tiers:1:Name"] = "5m",
            ["Downsample:Tiers:1:Interval"] = "5m",
            ["Downsample:Tiers:1:Source"] = "1m",
            ["Downsample:Tiers:1:Measurements:0"] = "*",
            ["Downsample:Tiers:1:Fields:0"] = "*",
        };
        for (int i = 0; i < DownsampleOracle.Aggregates.Length; i++)
        {
            s[$"Downsample:Tiers:0:Aggregates:{i}"] = DownsampleOracle.Aggregates[i].Suffix;
            s[$"Downsample:Tiers:1:Aggregates:{i}"] = DownsampleOracle.Aggregates[i].Suffix;
        }
        return s;
    }

    private static IEnumerable<(string, IReadOnlyList<string>)> Measurements(RawDataSet data) =>
        data.Measurements.Select(m => (m, data.NumericFields(m)));

    /// <param name="pointsPerSeries">200: about 18 points per series and minute; 2000: ~180, where the sketch has to work; 60: sparse windows.</param>
    [Theory]
    [InlineData(20261122, 200)]
    [InlineData(1, 2000)]
    [InlineData(2, 60)]
    public async Task Every_series_window_of_both_tiers_equals_InfluxDBs_aggregates_of_the_raw_points_despite_disorder_and_late_points(int seed, int pointsPerSeries)
    {
        await using var stack = await IngestStack.StartAsync(TierSettings());
        var db = ServersFixture.UniqueName("ds");
        var data = new RawDataSet(seed, pointsPerSeries);
        var arrival = new Random(4711);
        var tagOrder = new Random(815);

        // Held back, then sent once their windows were emitted but while still within lateness: minute 2 of cpu host=a
        // (window end 3m, final at 5m) and minute 3 of one disk series (final at 6m), sent while the watermark is below 4m20s.
        var hostA = data.Series.Single(s => s.Key == "cpu,host=a,region=eu");
        var disk = data.Series.Single(s => s.Measurement == "disk io" && s.CanonicalTags.Contains("dev=sd\\ a"));
        var minute2 = data.Points.Where(p => p.Series == hostA && p.Timestamp >= T0 + 2 * M && p.Timestamp < T0 + 3 * M && p.Numeric("usage") is not null).ToList();
        var heldBack = minute2.Where((_, i) => i % 2 == 1).Take(5)
            .Concat(data.Points.Where(p => p.Series == disk && p.Timestamp >= T0 + 3 * M && p.Timestamp < T0 + 4 * M).Take(3))
            .ToHashSet();
        Assert.True(heldBack.Count >= 3, $"only {heldBack.Count} points to hold back");

        // Everything else arrives shuffled: ordered by event time plus a random delay below 90 s, so a point reaches the
        // daemon at most 90 s of event time after the watermark passed it: out of order, often after its window was
        // emitted, never beyond the 2m lateness.
        var stream = data.Points.Where(p => !heldBack.Contains(p))
            .Select(p => (Point: p, Key: p.Timestamp + arrival.NextInt64(90 * S)))
            .OrderBy(x => x.Key).ToList();
        var phaseA = stream.Where(x => x.Key < T0 + 4 * M + 20 * S).Select(x => x.Point).ToList();
        var phaseC = stream.Where(x => x.Key >= T0 + 4 * M + 20 * S).Select(x => x.Point).ToList();
        Assert.True(phaseA.Max(p => p.Timestamp) < T0 + 5 * M - 30 * S);

        await DaemonApi.WriteAsync(stack, db, phaseA.Select(p => p.ToLine(tagOrder)), perRequest: 37);

        // The watermark is past 3m: cpu host=a's minute-2 window must be written already, from phase-A points only.
        long earlyExpected = phaseA.Count(p => p.Series == hostA && p.Timestamp >= T0 + 2 * M && p.Timestamp < T0 + 3 * M && p.Numeric("usage") is not null);
        long? early = null;
        if (earlyExpected > 0) await DaemonApi.WaitUntilAsync(async () =>
        {
            var rows = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT usage_count FROM cpu_1m WHERE host = 'a' AND time = {T0 + 2 * M}");
            early = rows.SelectMany(r => r.Values).Select(r => (long?)InfluxRows.Number(r[1])).FirstOrDefault();
            return early == earlyExpected;
        }, TimeSpan.FromSeconds(15));

        output.WriteLine($"{data.Points.Count} points; phase A {phaseA.Count} (watermark {InfluxRows.Time(phaseA.Max(p => p.Timestamp))}), " +
                         $"cpu host=a minute 2 written early with usage_count {early} (expected {earlyExpected}); held back {heldBack.Count}; phase C {phaseC.Count}");
        await DaemonApi.WriteAsync(stack, db, heldBack.OrderBy(_ => arrival.Next()).Select(p => p.ToLine(tagOrder)), perRequest: 3);
        await DaemonApi.WriteAsync(stack, db, phaseC.Select(p => p.ToLine(tagOrder)), perRequest: 37);

        // Every raw point is stored before the flush: the oracle reads them, and a flush does not wait for acknowledged
        // points still in the buffer (see A_flush_includes_points_acknowledged_before_it_even_while_they_still_wait_in_the_buffer).
        string rawState = "";
        Assert.True(await DaemonApi.WaitUntilAsync(async () => (rawState = await RawCountsDifferAsync(stack.Influx, db, data)) == "", TimeSpan.FromSeconds(30)),
            $"raw points did not all reach InfluxDB within 30 s: {rawState}\n{DaemonApi.Tail(stack)}");

        await DaemonApi.FlushAsync(stack);

        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var problems = await oracle.CompareWhenSettledAsync(Measurements(data), tier, interval, data.From, data.To,
                Tolerance.Daemon, timeout: TimeSpan.FromSeconds(45), stableFor: TimeSpan.FromSeconds(5), log: output.WriteLine);
            if (problems.Count > 0) failures.Add($"tier {tier}: " + DownsampleOracle.Summarise(problems));
        }

        // Only the raw measurements and one per tier: the tiers' own output must not be downsampled again.
        var expectedMeasurements = data.Measurements.SelectMany(m => new[] { m, m + "_1m", m + "_5m" }).OrderBy(m => m, StringComparer.Ordinal).ToList();
        var measurements = (await InfluxRows.QueryAsync(stack.Influx, db, "SHOW MEASUREMENTS")).SelectMany(s => s.Values).Select(r => r[0].GetString()!)
            .OrderBy(m => m, StringComparer.Ordinal).ToList();
        if (!measurements.SequenceEqual(expectedMeasurements))
            failures.Add($"measurements: expected [{string.Join(", ", expectedMeasurements)}], actual [{string.Join(", ", measurements)}]");

        // Field keys: exactly <numeric field>_<aggregate>; count an integer, the rest floats (also for integer fields).
        foreach (var m in data.Measurements)
        foreach (var tier in new[] { "1m", "5m" })
        {
            var expectedKeys = data.NumericFields(m).SelectMany(f => DownsampleOracle.Aggregates.Select(a => (Key: f + "_" + a.Suffix, Type: a.Suffix == "count" ? "integer" : "float")))
                .OrderBy(k => k.Key, StringComparer.Ordinal).ToList();
            var keys = (await InfluxRows.QueryAsync(stack.Influx, db, $"SHOW FIELD KEYS FROM {DownsampleOracle.Q(m + "_" + tier)}"))
                .SelectMany(s => s.Values).Select(r => (Key: r[0].GetString()!, Type: r[1].GetString()!)).OrderBy(k => k.Key, StringComparer.Ordinal).ToList();
            if (!keys.SequenceEqual(expectedKeys))
                failures.Add($"field keys of {m}_{tier}: expected [{string.Join(", ", expectedKeys.Select(k => $"{k.Key}:{k.Type}"))}], " +
                             $"actual [{string.Join(", ", keys.Select(k => $"{k.Key}:{k.Type}"))}]");
        }

        // The early write of minute 2 was then rewritten with the held-back points.
        if (earlyExpected > 0 && early != earlyExpected)
            failures.Add($"cpu_1m,host=a,region=eu window {InfluxRows.Time(T0 + 2 * M)}: usage_count {(early is null ? "absent" : early.ToString())} 15 s after the " +
                         $"watermark passed the window's end (phase-A points only, 2m lateness not yet over); expected {earlyExpected}: a window is written " +
                         "once the watermark reaches its end, not only at flush or when it becomes final");

        if (failures.Count > 0)
            failures.Add("(every point was sent within the lateness, so no late drop is expected) " + await DaemonApi.DownsampleDiagnosticsAsync(stack));
        Assert.True(failures.Count == 0, $"seed {data.Seed}, {data.Points.Count} raw points in {data.Series.Count} series, " +
                                         $"{heldBack.Count} held back:\n" + string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>"" when InfluxDB holds every generated value of every field, else which counts differ.</summary>
    internal static async Task<string> RawCountsDifferAsync(InfluxServer influx, string db, RawDataSet data)
    {
        var differ = new List<string>();
        foreach (var m in data.Measurements)
        foreach (var f in data.Series.Where(s => s.Measurement == m).SelectMany(s => s.Fields).Select(f => f.Name).Distinct())
        {
            long expected = data.Points.Count(p => p.Series.Measurement == m && p.Fields.Any(x => x.Field.Name == f));
            long actual = await DaemonApi.CountAsync(influx, db, m, f);
            if (actual != expected) differ.Add($"{m}.{f}: {actual} of {expected}");
        }
        return string.Join(", ", differ);
    }

    [Fact]
    public async Task A_point_later_than_the_allowed_lateness_is_stored_raw_but_leaves_its_window_alone_and_is_counted()
    {
        await using var stack = await IngestStack.StartAsync(TierSettings());
        var db = ServersFixture.UniqueName("late");
        var rng = new Random(99);
        // One series, a point every 5 s over ten minutes, in order: the watermark ends at 9m55s, so minute 2
        // (end 3m, final once the watermark reached 5m) is closed.
        var lines = Enumerable.Range(0, 120)
            .Select(i => $"lat,host=a v={(rng.NextDouble() * 100).ToString("R", CultureInfo.InvariantCulture)} {T0 + i * 5 * S}").ToList();
        await DaemonApi.WriteAsync(stack, db, lines, perRequest: 20);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "lat") == 120, TimeSpan.FromSeconds(30)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        // The window of minute 2 is final; it must be written by now (the watermark passed its end long ago).
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, "lat_1m", "v_count", $"time = {T0 + 2 * M}") == 1,
            TimeSpan.FromSeconds(15)), "lat_1m window 2 was not written before the late point\n" + DaemonApi.Tail(stack));
        var before = await DaemonApi.MetricSamplesAsync(stack, "late");

        const long lateTs = T0 + 2 * M + 2 * S + 500_000_000; // between two on-time points of minute 2
        await DaemonApi.WriteAsync(stack, db, [$"lat,host=a v=1000000 {lateTs}"]);

        // Forwarded raw regardless.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "lat") == 121, TimeSpan.FromSeconds(20)),
            "the late point was not forwarded raw to InfluxDB\n" + DaemonApi.Tail(stack));
        var raw = (await InfluxRows.QueryAsync(stack.Influx, db, "SELECT v FROM lat WHERE v > 100000")).SelectMany(s => s.Values).ToList();
        Assert.Single(raw);
        Assert.Equal(lateTs, raw[0][0].GetInt64());

        // Counted as a late drop.
        List<(string Line, double Value)> after = [];
        bool counted = await DaemonApi.WaitUntilAsync(async () =>
        {
            after = await DaemonApi.MetricSamplesAsync(stack, "late");
            return after.Any(a => a.Value - before.Where(b => b.Line[..b.Line.LastIndexOf(' ')] == a.Line[..a.Line.LastIndexOf(' ')]).Select(b => b.Value).DefaultIfEmpty(0).Single() == 1);
        }, TimeSpan.FromSeconds(10));

        output.WriteLine($"late counter: {(counted ? "went up by 1" : "did not go up by 1")}: {string.Join(" | ", after.Select(a => a.Line))}");
        await DaemonApi.FlushAsync(stack);

        // Every window, minute 2 included, equals InfluxDB's aggregates of the raw points without the late one.
        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var problems = await oracle.CompareWhenSettledAsync([("lat", ["v"])], tier, interval, T0, T0 + 15 * M,
                Tolerance.Daemon, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(4), extraCondition: "\"v\" < 100000", log: output.WriteLine);
            if (problems.Count > 0) failures.Add($"tier {tier} (oracle excludes the late point): " + DownsampleOracle.Summarise(problems));
        }
        if (!counted)
            failures.Add("no /metrics sample with 'late' in its name or labels went up by exactly 1 after the late point.\n  before:\n    " +
                         string.Join("\n    ", before.Select(b => b.Line)) + "\n  after:\n    " + string.Join("\n    ", after.Select(a => a.Line)));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>
    /// The same series written into two databases, interleaved: windows are kept per database (the output goes to the
    /// input batch's database), so each database's tiers equal InfluxDB's aggregates of that database's raw points.
    /// </summary>
    [Fact]
    public async Task The_same_series_in_two_databases_are_aggregated_separately()
    {
        await using var stack = await IngestStack.StartAsync(TierSettings());
        var sets = new[] { (Db: ServersFixture.UniqueName("one"), Data: new RawDataSet(11, 100)), (Db: ServersFixture.UniqueName("two"), Data: new RawDataSet(12, 100)) };
        var arrival = new Random(12);
        var requests = sets.SelectMany(x => x.Data.Points.Select(p => (x.Db, Point: p, Key: p.Timestamp + arrival.NextInt64(60 * S))))
            .OrderBy(x => x.Key).Chunk(25).SelectMany(chunk => chunk.GroupBy(x => x.Db)).ToList();
        foreach (var r in requests) await DaemonApi.WriteAsync(stack, r.Key, r.Select(x => x.Point.ToLine()), perRequest: 1000);
        foreach (var (db, data) in sets)
        {
            string state = "";
            Assert.True(await DaemonApi.WaitUntilAsync(async () => (state = await RawCountsDifferAsync(stack.Influx, db, data)) == "", TimeSpan.FromSeconds(30)),
                $"raw points of {db} did not all reach InfluxDB: {state}\n{DaemonApi.Tail(stack)}");
        }
        await DaemonApi.FlushAsync(stack);

        var failures = new List<string>();
        foreach (var (db, data) in sets)
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var problems = await new DownsampleOracle(stack.Influx, db).CompareWhenSettledAsync(Measurements(data), tier, interval, data.From, data.To,
                Tolerance.Daemon, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(4), log: line => output.WriteLine($"{db} {line}"));
            if (problems.Count > 0) failures.Add($"database {db} (seed {data.Seed}), tier {tier}: " + DownsampleOracle.Summarise(problems, 10));
        }
        if (failures.Count > 0) failures.Add(await DaemonApi.DownsampleDiagnosticsAsync(stack));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>
    /// A window emitted and then rewritten many times (late points within the lateness): InfluxDB keeps whichever line
    /// of a series and time it stores last, so the rewrites must reach it in the order they were made. influxd is
    /// frozen (SIGSTOP) while several rewrites are sent, each in its own write, so they are in flight together and
    /// served concurrently once it continues; five rounds of that.
    /// </summary>
    [Fact]
    public async Task Successive_rewrites_of_a_window_reach_InfluxDB_in_order_so_the_last_one_stands()
    {
        await using var stack = await IngestStack.StartAsync(TierSettings());
        var db = ServersFixture.UniqueName("rewrite");
        var rng = new Random(8);
        string Line(long ts) => $"rw,host=a v={(rng.NextDouble() * 100).ToString("R", CultureInfo.InvariantCulture)} {ts}";
        // Minute 0 is emitted once the watermark reaches 1m30s; then more points for it, one request each.
        await DaemonApi.WriteAsync(stack, db, [Line(T0 + S), Line(T0 + 90 * S)]);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, "rw_1m", "v_count") == 1, TimeSpan.FromSeconds(15)),
            "rw_1m window 0 was not written once the watermark passed its end\n" + DaemonApi.Tail(stack));
        using var pause = ServerPause.For(stack.Influx.ConfigPath);
        int sent = 2;
        for (int round = 0; round < 5; round++)
        {
            pause.Stop();
            try
            {
                for (int k = 0; k < 6; k++)
                {
                    await DaemonApi.WriteAsync(stack, db, [Line(T0 + 2 * S + sent * 100_000_000L)]);
                    sent++;
                    await Task.Delay(250); // past Influx:FlushInterval (100ms): each rewrite goes out in a write of its own
                }
            }
            finally
            {
                pause.Continue();
            }
            Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "rw") == sent, TimeSpan.FromSeconds(30)),
                $"raw points did not reach InfluxDB after round {round}\n" + DaemonApi.Tail(stack));
        }
        await DaemonApi.FlushAsync(stack);

        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var problems = await oracle.CompareWhenSettledAsync([("rw", ["v"])], tier, interval, T0, T0 + 15 * M,
                Tolerance.Daemon, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(3), log: output.WriteLine);
            if (problems.Count > 0) failures.Add($"tier {tier}: " + DownsampleOracle.Summarise(problems, 12));
        }
        if (failures.Count > 0) failures.Add(await DaemonApi.DownsampleDiagnosticsAsync(stack));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>
    /// A graceful restart in the middle of windows (the stop flushes them) must not leave a window worse than before:
    /// afterwards each window equals InfluxDB's aggregates of either all its raw points (state carried over) or of
    /// the points written before the restart (later ones dropped as late, as after a flush) — never of only the points
    /// that came after the restart, which would overwrite the complete line with a partial one.
    /// </summary>
    // With the write-ahead log, a stop leaves the open windows in the log and the next start rebuilds them, so a
    // point written after the restart joins the window instead of rewriting it with itself alone.
    [Fact]
    public async Task A_graceful_restart_mid_window_never_overwrites_a_window_with_only_the_points_after_it()
    {
        await using var stack = await IngestStack.StartAsync(TierSettings());
        var db = ServersFixture.UniqueName("restart");
        var rng = new Random(5);
        string Line(long ts, double v) => $"rs,host=a v={v.ToString("R", CultureInfo.InvariantCulture)} {ts}";
        // Before: every 5 s from 0:00 to 3:30 with v < 100. After: two points for minute 2 (within the 2m lateness of the
        // 3:30 watermark), then every 5 s from 3:35 to 5:55, all with v >= 100 so the oracle can tell them apart.
        var before = Enumerable.Range(0, 43).Select(i => Line(T0 + i * 5 * S, rng.NextDouble() * 100)).ToList();
        var after = new[] { T0 + 2 * M + 2500 * 1_000_000L, T0 + 2 * M + 7500 * 1_000_000L }
            .Concat(Enumerable.Range(43, 29).Select(i => T0 + i * 5 * S)).Select(ts => Line(ts, 100 + rng.NextDouble() * 100)).ToList();

        await DaemonApi.WriteAsync(stack, db, before, perRequest: 10);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "rs") == before.Count, TimeSpan.FromSeconds(20)),
            "raw points did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await stack.Daemon.StopAsync();
        await stack.Daemon.StartAgainAsync();
        await DaemonApi.WriteAsync(stack, db, after, perRequest: 10);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "rs") == before.Count + after.Count, TimeSpan.FromSeconds(20)),
            "raw points after the restart did not reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.FlushAsync(stack);

        var oracle = new DownsampleOracle(stack.Influx, db);
        var failures = new List<string>();
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var all = await oracle.ExpectedAsync("rs", ["v"], interval, T0, T0 + 15 * M);
            var preRestart = await oracle.ExpectedAsync("rs", ["v"], interval, T0, T0 + 15 * M, "\"v\" < 100");
            var postOnly = await oracle.ExpectedAsync("rs", ["v"], interval, T0, T0 + 15 * M, "\"v\" >= 100");
            WindowSet actual = new();
            var stopAt = DateTime.UtcNow.AddSeconds(10);
            List<string> problems;
            do
            {
                await Task.Delay(500);
                actual = await oracle.ActualAsync("rs", tier, T0, T0 + 15 * M);
                problems = [];
                foreach (var key in all.Keys.Union(actual.Keys).OrderBy(k => k.Start))
                {
                    var withAll = DownsampleOracle.Compare(One(all, key), One(actual, key), tier, Tolerance.Daemon);
                    var withPre = DownsampleOracle.Compare(One(preRestart, key), One(actual, key), tier, Tolerance.Daemon);
                    if (withAll.Count == 0 || (withPre.Count == 0 && preRestart.ContainsKey(key))) continue;
                    bool partial = postOnly.ContainsKey(key) && DownsampleOracle.Compare(One(postOnly, key), One(actual, key), tier, Tolerance.Daemon).Count == 0;
                    problems.Add($"[{tier}] {key}: {(partial ? "holds ONLY the points written after the restart (the complete line was overwritten by a partial one)" : "matches neither all raw points nor the pre-restart ones")}; " +
                                 $"v_count actual {(actual.TryGetValue(key, out var a) && a.TryGetValue("v_count", out var c) ? c : double.NaN)}, " +
                                 $"all {(all.TryGetValue(key, out var x) ? x["v_count"] : 0)}, before restart {(preRestart.TryGetValue(key, out var y) ? y["v_count"] : 0)}, " +
                                 $"after restart {(postOnly.TryGetValue(key, out var z) ? z["v_count"] : 0)}. vs all: {string.Join(" | ", withAll.Take(3))}");
                }
            } while (problems.Count > 0 && DateTime.UtcNow < stopAt);
            output.WriteLine($"[{tier}] windows: " + string.Join(", ", actual.OrderBy(k => k.Key.Start).Select(kv =>
                $"{(kv.Key.Start - T0) / M}m: count {kv.Value.GetValueOrDefault("v_count")} (all {(all.TryGetValue(kv.Key, out var w) ? w["v_count"] : 0)})")));
            failures.AddRange(problems);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    /// <summary>
    /// POST /api/pipeline/flush after writes were acknowledged: those points are older than the flush, so they belong
    /// in the windows it writes, also when they still wait in the buffer. Made deterministic by an InfluxDB outage and
    /// a small raw queue, which hold the transform runner back (a plain write-then-flush loses the race only sometimes).
    /// </summary>
    [Fact]
    public async Task A_flush_includes_points_acknowledged_before_it_even_while_they_still_wait_in_the_buffer()
    {
        var settings = TierSettings();
        settings["Pipeline:RawQueueCapacity"] = "100";
        settings["Influx:BatchSize"] = "100";
        await using var stack = await IngestStack.StartAsync(settings);
        var db = ServersFixture.UniqueName("flush");
        var rng = new Random(6);
        // Ten minutes, a point every 100 ms round three series.
        var lines = Enumerable.Range(0, 6000).Select(i => $"fl,host=h{i % 3} v={(rng.NextDouble() * 100).ToString("R", CultureInfo.InvariantCulture)} {T0 + i * 100_000_000L}").ToList();
        await stack.Influx.StopAsync();
        await DaemonApi.WriteAsync(stack, db, lines, perRequest: 200);
        var flushed = await DaemonApi.FlushAsync(stack);
        output.WriteLine("flush answered " + flushed);
        await stack.Influx.StartAsync();
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "fl") == lines.Count, TimeSpan.FromSeconds(60)),
            "raw points did not reach InfluxDB after it came back\n" + DaemonApi.Tail(stack));
        var late = await DaemonApi.MetricSamplesAsync(stack, "late");

        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        {
            var problems = await oracle.CompareWhenSettledAsync([("fl", ["v"])], tier, interval, T0, T0 + 15 * M,
                Tolerance.Daemon, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(4), log: output.WriteLine);
            if (problems.Count > 0) failures.Add($"tier {tier}: " + DownsampleOracle.Summarise(problems, 8));
        }
        if (failures.Count > 0)
            failures.Add($"POST /api/pipeline/flush, sent after all 30 write requests were answered 204 (InfluxDB down, so the points were " +
                         $"still in the buffer), answered {flushed}; late-drop samples afterwards: [{string.Join(" | ", late.Select(l => l.Line))}]. " +
                         "The flush closed the windows before the runner had aggregated those points.");
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));
    }

    private static WindowSet One(WindowSet windows, WindowKey key)
    {
        var w = new WindowSet();
        if (windows.TryGetValue(key, out var v)) w[key] = v;
        return w;
    }

    /// <summary>
    /// The oracle itself, without the daemon: raw points written straight to influxd, InfluxDB's GROUP BY answers
    /// compared with a plain C# computation (exact nearest-rank percentiles, first/last by time), then windows written
    /// as the daemon would write them must compare equal, and three planted errors must each be reported.
    /// </summary>
    [Fact]
    public async Task Oracle_queries_agree_with_a_reference_computation_and_report_each_planted_error()
    {
        await using var influx = await InfluxServer.StartNewAsync();
        var db = ServersFixture.UniqueName("oracle");
        await influx.CreateDatabaseAsync(db);
        var data = new RawDataSet(seed: 20261122);
        foreach (var chunk in data.Points.Select(p => p.ToLine()).Chunk(500)) await influx.WriteAsync(db, string.Join('\n', chunk));

        var oracle = new DownsampleOracle(influx, db);
        var exact = new Tolerance(1e-12, 0);
        var problems = new List<string>();
        int windows = 0;
        foreach (var (tier, interval) in new[] { ("1m", OneMinute), ("5m", FiveMinutes) })
        foreach (var (m, fields) in Measurements(data))
        {
            var expected = await oracle.ExpectedAsync(m, fields, interval, data.From, data.To);
            var reference = ReferenceAggregates.Compute(data.Points, m, interval);
            windows += expected.Count;
            problems.AddRange(DownsampleOracle.Compare(reference, expected, tier, exact).Select(p => "InfluxDB vs reference: " + p));
            await influx.WriteAsync(db, string.Join('\n', ReferenceAggregates.Lines(reference, tier)));
            var actual = await oracle.ActualAsync(m, tier, data.From, data.To);
            problems.AddRange(DownsampleOracle.Compare(expected, actual, tier, Tolerance.Daemon).Select(p => "reference lines read back: " + p));
        }
        Assert.True(problems.Count == 0, DownsampleOracle.Summarise(problems));
        Assert.True(windows > 60, $"only {windows} windows");

        // Planted: a percentile 2 % off, a count one too high (one field of a point merges into the stored window),
        // and a window where there are no raw points.
        await influx.WriteAsync(db, string.Join('\n',
            $"cpu_1m,host=b,region=eu procs_count=100000i {T0 + 6 * M}",
            $"rare_1m,id=z v_mean=1 {T0 + 8 * M}"));
        var exp1 = await oracle.ExpectedAsync("cpu", data.NumericFields("cpu"), OneMinute, data.From, data.To);
        var plantedP90 = exp1.Single(kv => kv.Key.Tags == "host=a,region=eu" && kv.Key.Start == T0 + 4 * M).Value["usage_p90"];
        await influx.WriteAsync(db, $"cpu_1m,host=a,region=eu usage_p90={(plantedP90 * 1.02).ToString("R", CultureInfo.InvariantCulture)} {T0 + 4 * M}");
        var planted = DownsampleOracle.Compare(exp1, await oracle.ActualAsync("cpu", "1m", data.From, data.To), "1m", Tolerance.Daemon);
        planted.AddRange(DownsampleOracle.Compare(
            await oracle.ExpectedAsync("rare", ["v"], OneMinute, data.From, data.To), await oracle.ActualAsync("rare", "1m", data.From, data.To), "1m", Tolerance.Daemon));
        Assert.True(planted.Count == 3, DownsampleOracle.Summarise(planted));
        Assert.Contains(planted, p => p.Contains("cpu_1m,host=a,region=eu window 2026-01-01T00:04:00.000Z") && p.Contains("usage_p90: expected") && p.Contains("percentile(usage, 90)"));
        Assert.Contains(planted, p => p.Contains("cpu_1m,host=b,region=eu window 2026-01-01T00:06:00.000Z") && p.Contains("procs_count: expected") && p.Contains("actual 100000"));
        Assert.Contains(planted, p => p.Contains("rare_1m,id=z window 2026-01-01T00:08:00.000Z") && p.Contains("unexpected window"));
    }
}
