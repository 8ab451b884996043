using System.Globalization;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Dashboards;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// Every InfluxQL query of <c>dashboards/ingest-data.json</c> (variables, panel targets, annotations) run on a real influxd
/// holding what the daemon wrote: raw points, a tier's windows and alert events. Variables and macros are replaced as
/// Grafana replaces them; each query must answer at least one series with values. The panel by time range is run for a
/// range of at most 1 h, where its raw target answers and its tier target does not, and for a longer one, the reverse.
/// </summary>
public class DashboardInfluxQlTests(ITestOutputHelper output)
{
    private const string Measurement = "dash_cpu";
    private const string Field = "usage";
    private const string TagKey = "host";

    private static Dictionary<string, string> Settings() => new()
    {
        ["Downsample:Tiers:0:Name"] = "1m",
        ["Downsample:Tiers:0:Interval"] = "1m",
        ["Downsample:Tiers:0:Measurements:0"] = Measurement,
        ["Thresholds:Rules:0:Name"] = "dash_cpu_high",
        ["Thresholds:Rules:0:Measurement"] = Measurement,
        ["Thresholds:Rules:0:Field"] = Field,
        ["Thresholds:Rules:0:Warn"] = "80",
        ["Thresholds:Rules:0:Crit"] = "90",
    };

    [Fact]
    public async Task Dashboard_every_InfluxQL_query_of_the_data_dashboard_answers_series_from_what_the_daemon_wrote()
    {
        var dashboard = GrafanaDashboard.Load("ingest-data.json");
        await using var stack = await IngestStack.StartAsync(Settings());
        var db = ServersFixture.UniqueName("dash");
        // The data source's own database (provisioned: metrics); the dashboard names $database in every statement.
        await stack.Influx.CreateDatabaseAsync("metrics");

        // 20 minutes of a point every 10 s for two hosts, ending a minute ago: host a climbs through warn and crit and
        // stays there (an active alert), host b crosses warn once and comes back (an alert that is over).
        var now = DateTimeOffset.UtcNow;
        var start = now.AddMinutes(-21).ToUnixTimeSeconds() / 60 * 60;
        var lines = new List<string>();
        for (int i = 0; i < 120; i++)
        {
            long ts = (start + i * 10) * 1_000_000_000L;
            double a = 50 + i * 0.4;
            double b = i is >= 40 and < 50 ? 85 : 40 + i % 7;
            lines.Add($"{Measurement},host=a,region=eu {Field}={a.ToString("R", CultureInfo.InvariantCulture)},load=1i {ts}");
            lines.Add($"{Measurement},host=b,region=eu {Field}={b.ToString("R", CultureInfo.InvariantCulture)},load=2i {ts}");
        }
        await DaemonApi.WriteAsync(stack, db, lines, perRequest: 40);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, Measurement, Field) == lines.Count,
            TimeSpan.FromSeconds(30)), "raw points did not all reach InfluxDB\n" + DaemonApi.Tail(stack));
        await DaemonApi.FlushAsync(stack);
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
                await DaemonApi.CountAsync(stack.Influx, db, Measurement + "_1m", Field + "_mean") >= 40 &&
                await DaemonApi.CountAsync(stack.Influx, db, "alerts", "value") >= 3,
            TimeSpan.FromSeconds(30)), "tier windows or alert events did not reach InfluxDB\n" + DaemonApi.Tail(stack));

        // Grafana's backend: $timeFilter as absolute bounds in ms, the interval in its largest whole unit; its frontend:
        // $__from and $__to. Two ranges holding all the data: 56 minutes (at most 1 h: raw points) and 6 hours (a tier).
        var to = now.AddMinutes(1).ToUnixTimeMilliseconds();
        var shortFrom = now.AddMinutes(-55).ToUnixTimeMilliseconds();
        var longFrom = now.AddHours(-5).AddMinutes(-59).ToUnixTimeMilliseconds();
        Assert.True(to - shortFrom <= 3_600_000 && to - longFrom > 3_600_000);
        var values = GrafanaDashboard.InfluxTimeRange(shortFrom, to);
        values["__interval_ms"] = "10000";
        values["__interval"] = "10s";
        values["interval"] = "10s";
        var longRange = GrafanaDashboard.InfluxTimeRange(longFrom, to);
        longRange["__interval_ms"] = "20000";
        longRange["__interval"] = "20s";
        longRange["interval"] = "20s";

        // Variables in order, each query run with the ones above it; the test picks its own database, measurement,
        // field and tag key, and every value of a multi-value variable.
        var preferred = new Dictionary<string, string> { ["database"] = db, ["measurement"] = Measurement, ["field"] = Field, ["tagkey"] = TagKey };
        var variableValues = new Dictionary<string, List<string>>();
        var failures = new List<string>();
        int ran = 0;
        foreach (var v in dashboard.Variables())
        {
            List<string> options;
            if (v.Type == "constant" || v.Type == "custom")
            {
                options = v.Query.Split(',').Select(o => o.Trim()).ToList();
            }
            else if (v.DatasourceType == "prometheus")
            {
                // The tier for the range, read from the daemon's metrics: DashboardPromQlTests runs that query on a
                // real Prometheus. Here it is the daemon's one tier.
                options = ["1m"];
            }
            else
            {
                Assert.Equal("query", v.Type);
                var q = GrafanaDashboard.Interpolate(v.Query, values, $"variable {v.Name}");
                var answer = await RunAsync(stack.Influx, q);
                ran++;
                // A variable takes the first column of every row (SHOW … answers name or key/value pairs: the value is last for tag values).
                var raw = answer.SelectMany(s => s.Values.Select(r => InfluxRows.Text(r[s.Columns.Length == 2 && s.Columns[1] == "value" ? 1 : 0]) ?? "")).ToList();
                options = GrafanaDashboard.SortValues(GrafanaDashboard.FilterValues(raw, v.Regex), v.Sort);
                output.WriteLine($"variable {v.Name}: {q} -> [{string.Join(", ", options)}]");
                if (options.Count == 0) { failures.Add($"variable {v.Name}: no value from {q} (answers before its regex {v.Regex}: [{string.Join(", ", raw)}])"); continue; }
            }
            if (preferred.TryGetValue(v.Name, out var pick))
            {
                if (!options.Contains(pick)) failures.Add($"variable {v.Name}: [{string.Join(", ", options)}] lacks {pick}");
                options = [pick];
            }
            variableValues[v.Name] = options;
            values[v.Name] = v.Multi ? GrafanaDashboard.InfluxRegexValue(options) : options[0];
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(["1m"], variableValues["tier"]);
        Assert.Equal(["a", "b"], variableValues["tagvalue"].Order());

        var queries = dashboard.Queries().ToList();
        Assert.NotEmpty(queries);
        var byRange = queries.Where(q => q.Where.StartsWith("panel 1 \"$measurement.$field by time range\" ")).ToList();
        Assert.Equal(["target A", "target B"], byRange.Select(q => q.Where[(q.Where.LastIndexOf(" target ") + 1)..]));
        Assert.All(byRange, q => Assert.Null(q.Repeat));

        // The panel by time range: raw points (A) for the short range only, the tier (B) for the long range only.
        foreach (var (range, rangeValues, rawRange) in new[] { ("56 min", values, true), ("6 h", RangeOver(values, longRange), false) })
        foreach (var query in byRange)
        {
            var where = $"{query.Where} over {range}";
            var q = GrafanaDashboard.Interpolate(query.Text, rangeValues, where);
            List<SeriesRows> answer;
            try { answer = await RunAsync(stack.Influx, q); }
            catch (InfluxQueryException e) { failures.Add($"{where}: {e.Message}"); continue; }
            ran++;
            output.WriteLine($"{where}: {q} -> {answer.Count} series, {answer.Sum(s => s.Values.Length)} rows");
            bool answers = rawRange == query.Where.EndsWith(" target A");
            if (answers) CheckValues(where, q, answer, failures);
            else if (answer.Count > 0) failures.Add($"{where}: {answer.Count} series where none was expected from {q}");
        }

        foreach (var query in queries.Except(byRange))
        {
            // A repeated panel is one panel per value of its variable, each with that single value.
            foreach (var repeatValue in query.Repeat is null ? [null] : variableValues[query.Repeat])
            {
                var local = new Dictionary<string, string>(values);
                if (query.Repeat is not null) local[query.Repeat] = GrafanaDashboard.InfluxRegexValue([repeatValue!]);
                var q = GrafanaDashboard.Interpolate(query.Text, local, query.Where);
                var where = query.Where + (repeatValue is null ? "" : $" ({query.Repeat}={repeatValue})");
                List<SeriesRows> answer;
                try { answer = await RunAsync(stack.Influx, q); }
                catch (InfluxQueryException e) { failures.Add($"{where}: {e.Message}"); continue; }
                ran++;
                output.WriteLine($"{where}: {q} -> {answer.Count} series, {answer.Sum(s => s.Values.Length)} rows");
                CheckValues(where, q, answer, failures);
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The active-alerts table holds host a's alert (still crit) and not host b's (back to ok).
        var table = GrafanaDashboard.Interpolate(queries.Single(q => q.ResultFormat == "table").Text, values, "active alerts");
        var active = (await RunAsync(stack.Influx, table)).SelectMany(s => s.Values.Select(r => (Tags: s.Tags, Row: r, Columns: s.Columns))).ToList();
        Assert.True(active.Count == 1, $"active alerts: expected host a's only, got {string.Join(" | ", active.Select(a => string.Join(",", a.Tags) + " " + string.Join(",", a.Row.Select(c => c.GetRawText()))))}");
        Assert.Equal("a", active[0].Tags.GetValueOrDefault("host"));
        Assert.Equal("crit", InfluxRows.Text(active[0].Row[Array.IndexOf(active[0].Columns, "level")]));
        output.WriteLine($"{ran} queries run");
    }

    /// <summary>The values of <paramref name="values"/> with the time range and interval of <paramref name="range"/>.</summary>
    private static Dictionary<string, string> RangeOver(Dictionary<string, string> values, Dictionary<string, string> range)
    {
        var result = new Dictionary<string, string>(values);
        foreach (var (k, v) in range) result[k] = v;
        return result;
    }

    /// <summary>At least one series with values, and every column with a value somewhere: a misspelt field next to good ones only gives an empty column.</summary>
    private static void CheckValues(string where, string q, List<SeriesRows> answer, List<string> failures)
    {
        var withValues = answer.Where(s => s.Values.Any(r => r.Skip(1).Any(c => c.ValueKind != JsonValueKind.Null))).ToList();
        if (withValues.Count == 0) { failures.Add($"{where}: no series with values from {q}"); return; }
        var empty = answer.SelectMany(s => s.Columns.Skip(1).Select((c, i) => (Column: c, Filled: s.Values.Any(r => r[i + 1].ValueKind != JsonValueKind.Null))))
            .GroupBy(x => x.Column).Where(g => !g.Any(x => x.Filled)).Select(g => g.Key).ToList();
        if (empty.Count > 0) failures.Add($"{where}: column(s) {string.Join(", ", empty)} without a value in any row of {q}");
    }

    /// <summary>As Grafana sends it: the data source's database in <c>db</c>, the statement naming its own.</summary>
    private static async Task<List<SeriesRows>> RunAsync(InfluxServer influx, string query) =>
        InfluxRows.Parse(await influx.QueryAsync("metrics", query));
}
