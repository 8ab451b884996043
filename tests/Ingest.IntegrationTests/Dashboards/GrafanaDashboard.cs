using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ingest.IntegrationTests.Dashboards;

/// <summary>One query a dashboard holds: where it sits (for messages), its text, its data source and the panel's repeat variable.</summary>
public sealed record DashboardQuery(string Where, string Text, string DatasourceType, string DatasourceUid, string? Repeat, string? ResultFormat);

/// <summary>A template variable of a dashboard, as far as the tests need it.</summary>
public sealed record DashboardVariable(string Name, string Type, string Query, string Regex, bool Multi, string? DatasourceType, int Sort);

/// <summary>
/// A dashboard file of <c>dashboards/</c>, read as Grafana reads it: its panels' targets, annotation and variable
/// queries, and the substitution of variables and macros into a query's text.
/// </summary>
public sealed partial class GrafanaDashboard
{
    private GrafanaDashboard(string path, JsonElement root)
    {
        Path = path;
        Root = root;
    }

    public string Path { get; }
    public JsonElement Root { get; }

    /// <summary>The repository's root (the folder holding Ingest.sln).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Ingest.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "the repository was not found above " + AppContext.BaseDirectory);
        return dir!.FullName;
    }

    /// <summary>Reads <c>dashboards/<paramref name="file"/></c>.</summary>
    public static GrafanaDashboard Load(string file)
    {
        var path = System.IO.Path.Combine(RepositoryRoot(), "dashboards", file);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return new GrafanaDashboard(path, doc.RootElement.Clone());
    }

    /// <summary>Every panel, rows' nested panels included.</summary>
    public IEnumerable<JsonElement> Panels()
    {
        foreach (var p in Root.GetProperty("panels").EnumerateArray())
        {
            yield return p;
            if (p.TryGetProperty("panels", out var nested))
                foreach (var n in nested.EnumerateArray()) yield return n;
        }
    }

    public IReadOnlyList<DashboardVariable> Variables() =>
        Root.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => new DashboardVariable(
            v.GetProperty("name").GetString()!,
            v.GetProperty("type").GetString()!,
            QueryText(v.TryGetProperty("query", out var q) ? q : default),
            v.TryGetProperty("regex", out var r) ? r.GetString() ?? "" : "",
            v.TryGetProperty("multi", out var m) && m.GetBoolean(),
            v.TryGetProperty("datasource", out var ds) && ds.ValueKind == JsonValueKind.Object ? ds.GetProperty("type").GetString() : null,
            v.TryGetProperty("sort", out var s) ? s.GetInt32() : 0)).ToList();

    /// <summary>Every panel target's query and every annotation's, in file order.</summary>
    public IEnumerable<DashboardQuery> Queries()
    {
        foreach (var p in Panels())
        {
            if (!p.TryGetProperty("targets", out var targets)) continue;
            var panelDs = p.TryGetProperty("datasource", out var pd) ? pd : default;
            var repeat = p.TryGetProperty("repeat", out var rp) ? rp.GetString() : null;
            foreach (var t in targets.EnumerateArray())
            {
                var ds = t.TryGetProperty("datasource", out var td) ? td : panelDs;
                var text = t.TryGetProperty("expr", out var e) ? e.GetString()! : t.GetProperty("query").GetString()!;
                yield return new DashboardQuery($"panel {p.GetProperty("id")} \"{p.GetProperty("title").GetString()}\" target {t.GetProperty("refId").GetString()}",
                    text, ds.GetProperty("type").GetString()!, ds.GetProperty("uid").GetString()!, repeat,
                    t.TryGetProperty("resultFormat", out var rf) ? rf.GetString() : null);
            }
        }
        foreach (var a in Root.GetProperty("annotations").GetProperty("list").EnumerateArray())
        {
            var ds = a.GetProperty("datasource");
            var text = a.TryGetProperty("expr", out var e) ? e.GetString()! : a.GetProperty("query").GetString()!;
            yield return new DashboardQuery($"annotation \"{a.GetProperty("name").GetString()}\"", text,
                ds.GetProperty("type").GetString()!, ds.GetProperty("uid").GetString()!, null, null);
        }
    }

    private static string QueryText(JsonElement query) => query.ValueKind switch
    {
        JsonValueKind.String => query.GetString()!,
        JsonValueKind.Object => query.GetProperty("query").GetString()!,
        _ => "",
    };

    /// <summary>Grafana's macros for each data source type, the ones its backend replaces itself.</summary>
    public static IReadOnlySet<string> Macros(string datasourceType) => datasourceType switch
    {
        "influxdb" => new HashSet<string> { "timeFilter", "__timeFilter", "__interval", "__interval_ms", "interval" },
        "prometheus" => new HashSet<string> { "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms" },
        _ => new HashSet<string>(),
    };

    /// <summary>
    /// Grafana's global variables the tests know, which its frontend replaces in every query whatever the data source:
    /// <c>$__from</c> and <c>$__to</c>, the dashboard's time range in epoch milliseconds.
    /// </summary>
    public static IReadOnlySet<string> Globals { get; } = new HashSet<string> { "__from", "__to" };

    /// <summary>
    /// The values of an InfluxDB query's time range from <paramref name="fromMs"/> to <paramref name="toMs"/> (epoch ms), as
    /// Grafana writes them: the backend's <c>$timeFilter</c> and the globals <c>$__from</c>, <c>$__to</c>.
    /// </summary>
    public static Dictionary<string, string> InfluxTimeRange(long fromMs, long toMs) => new()
    {
        ["timeFilter"] = $"time >= {fromMs}ms and time <= {toMs}ms",
        ["__timeFilter"] = $"time >= {fromMs}ms and time <= {toMs}ms",
        ["__from"] = fromMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["__to"] = toMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The variable names a text refers to, in Grafana's three syntaxes (<c>$x</c>, <c>${x}</c>, <c>[[x]]</c>).</summary>
    public static IEnumerable<string> ReferencedNames(string text) =>
        VariablePattern().Matches(text).Select(m => FirstGroup(m, 1, 2, 4));

    /// <summary>
    /// Replaces variables and macros as Grafana does: a name is the longest run of word characters after <c>$</c>
    /// (so <c>$field_mean</c> names <c>field_mean</c>, and <c>${field}_mean</c> is needed), each name looked up in
    /// <paramref name="values"/>; a name not there fails the test, as Grafana would send it unreplaced.
    /// </summary>
    public static string Interpolate(string text, IReadOnlyDictionary<string, string> values, string where) =>
        VariablePattern().Replace(text, m =>
        {
            var name = FirstGroup(m, 1, 2, 4);
            if (!values.TryGetValue(name, out var value))
                throw new Xunit.Sdk.XunitException($"{where}: ${name} is neither a variable of the dashboard nor a macro the test knows: {text}");
            return value;
        });

    private static string FirstGroup(Match m, params int[] groups) =>
        groups.Select(g => m.Groups[g]).First(g => g.Success).Value;

    // $name | [[name]] or [[name:format]] | ${name}, ${name.field} or ${name:format}
    [GeneratedRegex(@"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")]
    private static partial Regex VariablePattern();

    /// <summary>
    /// A variable's values after Grafana's regex filter: a <c>/pattern/flags</c> over the query's answers; with a
    /// capture group the group's text is the value.
    /// </summary>
    public static List<string> FilterValues(IEnumerable<string> raw, string variableRegex)
    {
        var all = raw.ToList();
        if (string.IsNullOrEmpty(variableRegex)) return all.Distinct().ToList();
        var m = Regex.Match(variableRegex, "^/(.*)/([gimsuy]*)$", RegexOptions.Singleline);
        Assert.True(m.Success, $"variable regex is not /pattern/flags: {variableRegex}");
        var options = m.Groups[2].Value.Contains('i') ? RegexOptions.IgnoreCase : RegexOptions.None;
        var re = new Regex(m.Groups[1].Value, options);
        var values = new List<string>();
        foreach (var v in all)
        {
            var hit = re.Match(v);
            if (!hit.Success) continue;
            values.Add(hit.Groups.Count > 1 && hit.Groups[1].Success ? hit.Groups[1].Value : v);
        }
        return values.Distinct().ToList();
    }

    /// <summary>
    /// A query variable's values in the order of its <c>sort</c>, as Grafana sorts them (1/2 alphabetical, 3/4 numerical: by
    /// the first run of digits, a value without one first, ties kept in the query's order; 5/6 alphabetical ignoring case;
    /// even numbers descending; 0 the query's order; 7/8, natural, is not modelled). No order knows units: numerically
    /// <c>1h</c> and <c>1m</c> tie.
    /// </summary>
    public static List<string> SortValues(IEnumerable<string> values, int sort)
    {
        var list = values.ToList();
        if (sort == 0) return list;
        var sorted = ((sort + 1) / 2) switch
        {
            1 => list.OrderBy(v => v, StringComparer.Ordinal).ToList(),
            2 => list.OrderBy(v => Regex.Match(v, @"\d+") is { Success: true } m ? long.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture) : -1).ToList(),
            3 => list.OrderBy(v => v.ToLowerInvariant(), StringComparer.Ordinal).ToList(),
            _ => throw new Xunit.Sdk.XunitException($"variable sort {sort} (natural, or unknown) is not one the tests model"),
        };
        if (sort % 2 == 0) sorted.Reverse();
        return sorted;
    }

    /// <summary>A multi-value variable in an InfluxQL regex, as Grafana writes it: <c>(a|b)</c>, each value regex-escaped.</summary>
    public static string InfluxRegexValue(IReadOnlyList<string> values) =>
        values.Count == 1 ? EscapeRegex(values[0]) : "(" + string.Join('|', values.Select(EscapeRegex)) + ")";

    /// <summary>A multi-value variable inside a PromQL string matcher: <c>(a|b)</c>, metacharacters escaped twice (string, then regex).</summary>
    public static string PromRegexValue(IReadOnlyList<string> values) =>
        "(" + string.Join('|', values.Select(v => Regex.Replace(v, @"[\\^$*+?.()|{}\[\]]", @"\\$&"))) + ")";

    private static string EscapeRegex(string v) => Regex.Replace(v, @"[\\^$*+?.()|{}\[\]/]", @"\$&");
}
