using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.IntegrationTests.Dashboards;

namespace Ingest.IntegrationTests;

/// <summary>
/// The dashboards of <c>dashboards/</c> against the JSON model Grafana loads (docs/conformance: grafana.md) and the
/// compose stack's provisioning: what can be checked without a server.
/// </summary>
public partial class DashboardModelTests
{
    public static TheoryData<string> Files => new() { "ingest-daemon.json", "ingest-data.json" };

    /// <summary>uid → type of every data source the compose stack provisions.</summary>
    private static Dictionary<string, string> ProvisionedDatasources()
    {
        var folder = Path.Combine(GrafanaDashboard.RepositoryRoot(), "deploy", "compose", "grafana", "provisioning", "datasources");
        var result = new Dictionary<string, string>();
        foreach (var file in Directory.GetFiles(folder, "*.yml"))
        {
            // One "- name:" item per data source; its uid and type are plain scalars in it.
            foreach (var item in File.ReadAllText(file).Split("\n  - ").Skip(1))
            {
                var uid = Regex.Match(item, @"^\s*uid:\s*(\S+)\s*$", RegexOptions.Multiline);
                var type = Regex.Match(item, @"^\s*type:\s*(\S+)\s*$", RegexOptions.Multiline);
                Assert.True(uid.Success && type.Success, $"{file}: a data source without a fixed uid and a type:\n{item}");
                result[uid.Groups[1].Value] = type.Groups[1].Value;
            }
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Dashboard_follows_the_JSON_model_with_a_uid_unique_panel_ids_and_a_grid_that_fits(string file)
    {
        var d = GrafanaDashboard.Load(file);
        var root = d.Root;
        Assert.Equal(JsonValueKind.Null, root.GetProperty("id").ValueKind);
        var uid = root.GetProperty("uid").GetString()!;
        Assert.InRange(uid.Length, 8, 40);
        Assert.Equal(Path.GetFileNameWithoutExtension(file), uid);
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("title").GetString()));
        Assert.True(root.GetProperty("schemaVersion").GetInt32() > 0);
        Assert.Equal(JsonValueKind.Number, root.GetProperty("version").ValueKind);
        Assert.StartsWith("now-", root.GetProperty("time").GetProperty("from").GetString());
        Assert.Equal(JsonValueKind.Array, root.GetProperty("templating").GetProperty("list").ValueKind);
        Assert.Equal(JsonValueKind.Array, root.GetProperty("annotations").GetProperty("list").ValueKind);

        var panels = d.Panels().ToList();
        Assert.NotEmpty(panels);
        var ids = panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.True(ids.Count == ids.Distinct().Count(), $"panel ids repeat: {string.Join(", ", ids)}");

        var cells = new Dictionary<(int X, int Y), int>();
        foreach (var p in panels)
        {
            var id = p.GetProperty("id").GetInt32();
            var g = p.GetProperty("gridPos");
            int x = g.GetProperty("x").GetInt32(), y = g.GetProperty("y").GetInt32(), w = g.GetProperty("w").GetInt32(), h = g.GetProperty("h").GetInt32();
            Assert.True(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, $"panel {id}: gridPos x={x} y={y} w={w} h={h} does not fit 24 columns");
            Assert.False(string.IsNullOrWhiteSpace(p.GetProperty("type").GetString()), $"panel {id} has no type");
            Assert.False(string.IsNullOrWhiteSpace(p.GetProperty("title").GetString()), $"panel {id} has no title");
            for (int cx = x; cx < x + w; cx++)
            for (int cy = y; cy < y + h; cy++)
                Assert.True(cells.TryAdd((cx, cy), id), $"panels {cells.GetValueOrDefault((cx, cy))} and {id} overlap at x={cx} y={cy}");
            if (p.GetProperty("type").GetString() != "row")
                Assert.True(p.TryGetProperty("targets", out var t) && t.GetArrayLength() > 0, $"panel {id} has no query");
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_data_source_the_dashboard_names_is_one_the_compose_stack_provisions_by_uid_and_type(string file)
    {
        var provisioned = ProvisionedDatasources();
        var d = GrafanaDashboard.Load(file);
        var refs = new List<(string Where, JsonElement Ds)>();
        foreach (var p in d.Panels())
        {
            if (p.TryGetProperty("datasource", out var pd)) refs.Add(($"panel {p.GetProperty("id")}", pd));
            if (p.TryGetProperty("targets", out var ts))
                foreach (var t in ts.EnumerateArray())
                    if (t.TryGetProperty("datasource", out var td)) refs.Add(($"panel {p.GetProperty("id")} target {t.GetProperty("refId")}", td));
        }
        foreach (var v in d.Root.GetProperty("templating").GetProperty("list").EnumerateArray())
            if (v.TryGetProperty("datasource", out var vd)) refs.Add(($"variable {v.GetProperty("name")}", vd));
        foreach (var a in d.Root.GetProperty("annotations").GetProperty("list").EnumerateArray())
            refs.Add(($"annotation {a.GetProperty("name")}", a.GetProperty("datasource")));

        Assert.NotEmpty(refs);
        foreach (var (where, ds) in refs)
        {
            Assert.True(ds.ValueKind == JsonValueKind.Object, $"{where}: datasource must be {{type, uid}}, not {ds.GetRawText()}");
            var uid = ds.GetProperty("uid").GetString()!;
            Assert.True(provisioned.TryGetValue(uid, out var type), $"{where}: data source uid '{uid}' is not provisioned (known: {string.Join(", ", provisioned.Keys)})");
            Assert.Equal(type, ds.GetProperty("type").GetString());
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_variable_a_query_uses_is_defined_before_it_or_is_a_macro_of_its_data_source_or_a_global(string file)
    {
        var d = GrafanaDashboard.Load(file);
        var variables = d.Variables();
        var defined = new HashSet<string>();
        foreach (var v in variables)
        {
            // A variable's query may use the variables above it (Grafana resolves them in order), the macros and the globals.
            foreach (var name in GrafanaDashboard.ReferencedNames(v.Query))
                Assert.True(defined.Contains(name) || GrafanaDashboard.Macros(v.DatasourceType ?? "").Contains(name) || GrafanaDashboard.Globals.Contains(name),
                    $"variable {v.Name}: its query uses ${name}, which is not a variable defined above it: {v.Query}");
            Assert.True(defined.Add(v.Name), $"variable {v.Name} is defined twice");
        }
        var queries = d.Queries().ToList();
        Assert.NotEmpty(queries);
        foreach (var q in queries)
        {
            var macros = GrafanaDashboard.Macros(q.DatasourceType);
            foreach (var name in GrafanaDashboard.ReferencedNames(q.Text))
                Assert.True(defined.Contains(name) || macros.Contains(name) || GrafanaDashboard.Globals.Contains(name),
                    $"{q.Where}: ${name} is not a variable of the dashboard, a {q.DatasourceType} macro nor a Grafana global: {q.Text}");
            if (q.Repeat is not null)
                Assert.True(variables.Any(v => v.Name == q.Repeat && v.Multi), $"{q.Where}: repeats over {q.Repeat}, which is not a multi-value variable");
        }
    }

    [Fact]
    public void InfluxQL_queries_filter_on_the_time_range_and_group_time_series_by_the_interval()
    {
        foreach (var q in GrafanaDashboard.Load("ingest-data.json").Queries())
        {
            Assert.Equal("influxdb", q.DatasourceType);
            Assert.Contains("$timeFilter", q.Text);
            if (q.ResultFormat == "time_series")
                Assert.Contains("GROUP BY time($__interval)", q.Text);
        }
    }

    [Fact]
    public void The_panel_by_time_range_reads_raw_points_up_to_an_hour_and_one_tier_beyond()
    {
        var d = GrafanaDashboard.Load("ingest-data.json");
        var targets = d.Queries().Where(q => q.Where.StartsWith("panel 1 ")).ToList();
        Assert.Equal(2, targets.Count);
        Assert.Contains("FROM \"$database\"..\"$measurement\" ", targets[0].Text);
        Assert.Contains("AND ${__to} - ${__from} <= 3600000 ", targets[0].Text);
        Assert.Contains("FROM \"$database\"..\"${measurement}_${resolution}\" ", targets[1].Text);
        Assert.Contains("AND ${__to} - ${__from} > 3600000 ", targets[1].Text);
        Assert.All(targets, t => Assert.Null(t.Repeat));

        // The tier of target B is one value, picked by the range from the daemon's own list of tiers; the per-tier
        // panels repeat over all of them.
        var variables = d.Variables();
        var resolution = variables.Single(v => v.Name == "resolution");
        var tier = variables.Single(v => v.Name == "tier");
        Assert.False(resolution.Multi);
        Assert.True(tier.Multi);
        Assert.Equal("prometheus", resolution.DatasourceType);
        Assert.StartsWith("query_result(", resolution.Query);
        Assert.Contains("ingest_downsample_tier_interval_seconds) >= $__range_s / 1000", resolution.Query);
        Assert.Equal("/tier=\"([^\"]+)\"/", resolution.Regex);
        // Read again at every change of the time range (Grafana's refresh 2), not only at load.
        Assert.Equal(2, d.Root.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == "resolution").GetProperty("refresh").GetInt32());
    }

    [Fact]
    public void PromQL_rates_use_the_rate_interval_and_every_ingest_metric_is_one_the_daemon_documents()
    {
        var documented = MetricsGoldenTests.ReadmeFamilies().Select(f => f.Name).ToHashSet();
        var queries = GrafanaDashboard.Load("ingest-daemon.json").Queries().ToList();
        foreach (var q in queries)
        {
            Assert.Equal("prometheus", q.DatasourceType);
            foreach (Match range in Regex.Matches(q.Text, @"\[([^\]]+)\]"))
                Assert.True(range.Groups[1].Value == "$__rate_interval", $"{q.Where}: range [{range.Groups[1].Value}] instead of [$__rate_interval]: {q.Text}");
            foreach (Match m in Regex.Matches(q.Text, @"\bingest_[a-z_]+"))
            {
                // Histogram series carry _bucket/_sum/_count on top of the family's name.
                var family = Regex.Replace(m.Value, "_(bucket|sum|count)$", "");
                Assert.True(documented.Contains(family), $"{q.Where}: {m.Value} is not in the README's Metrics table");
            }
        }
        // What the brief for this dashboard asks to see, each at least once.
        foreach (var family in new[] { "ingest_stage_received_total", "ingest_stage_sent_total", "ingest_source_points_total", "ingest_source_state",
                     "ingest_source_reconnects_total", "ingest_buffer_points", "ingest_wal_size_bytes", "ingest_wal_oldest_undelivered_age_seconds",
                     "ingest_sink_write_duration_seconds_bucket", "ingest_sink_retries_total", "ingest_sink_points_dropped_total", "ingest_alerts",
                     "ingest_feed_clients", "dotnet_gc_collections_total", "dotnet_process_cpu_time_seconds_total" })
            Assert.True(queries.Any(q => Regex.IsMatch(q.Text, $@"\b{family}\b")), $"no panel reads {family}");
    }

    [Fact]
    public void The_compose_stack_mounts_this_folder_where_the_dashboard_provider_reads()
    {
        var root = GrafanaDashboard.RepositoryRoot();
        var provider = File.ReadAllText(Path.Combine(root, "deploy", "compose", "grafana", "provisioning", "dashboards", "ingest.yml"));
        var path = Regex.Match(provider, @"^\s*path:\s*(\S+)\s*$", RegexOptions.Multiline);
        Assert.True(path.Success, "the dashboard provider names no path");
        var compose = File.ReadAllText(Path.Combine(root, "docker-compose.yml"));
        Assert.Contains($"./dashboards:{path.Groups[1].Value}:ro", compose);
        Assert.Contains("./deploy/compose/grafana/provisioning:/etc/grafana/provisioning:ro", compose);
    }
}
