using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>A series window: measurement (raw name, without the tier suffix), canonical tags, window start (ns).</summary>
public sealed record WindowKey(string Measurement, string Tags, long Start)
{
    public override string ToString() => $"{Measurement}{(Tags.Length > 0 ? "," + Tags : "")} window {InfluxRows.Time(Start)}";
}

/// <summary>Per window, the output fields (<c>f_mean</c>, <c>f_count</c>, …) and their values; an absent key is an absent field.</summary>
public sealed class WindowSet : Dictionary<WindowKey, Dictionary<string, double>>
{
    public int FieldCount => Values.Sum(v => v.Count);
}

/// <summary>How close the daemon's aggregates must be to InfluxDB's.</summary>
/// <param name="Relative">mean, sum (scaled by the window's magnitude), min, max, first, last.</param>
/// <param name="Percentile">Relative error allowed for p50…p99 (the sketch states 1 %).</param>
public sealed record Tolerance(double Relative, double Percentile)
{
    public static readonly Tolerance Daemon = new(1e-9, 0.01);
}

/// <summary>
/// InfluxDB as the oracle for downsampling: the expected windows are InfluxQL aggregates over the raw points
/// (<c>GROUP BY time(interval), *</c>), the actual ones the tier's <c>m_tier</c> rows, both from the same database.
/// </summary>
public sealed class DownsampleOracle(InfluxServer influx, string db)
{
    /// <summary>Output suffix and the InfluxQL function computing it over raw points; in the daemon's field order.</summary>
    public static readonly (string Suffix, string Function)[] Aggregates =
    [
        ("mean", "mean({0})"), ("min", "min({0})"), ("max", "max({0})"), ("sum", "sum({0})"), ("count", "count({0})"),
        ("first", "first({0})"), ("last", "last({0})"),
        ("p50", "percentile({0}, 50)"), ("p90", "percentile({0}, 90)"), ("p95", "percentile({0}, 95)"), ("p99", "percentile({0}, 99)"),
    ];

    public static string Q(string identifier) => InfluxServer.QuoteIdentifier(identifier);

    public static string IntervalLiteral(TimeSpan interval) =>
        interval.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)interval.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : ((long)interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>The oracle query: every aggregate of every numeric field, per series and window, empty windows left out.</summary>
    public static string ExpectedQuery(string measurement, IReadOnlyList<string> fields, TimeSpan interval, long from, long to, string? extraCondition = null)
    {
        var select = string.Join(", ", fields.SelectMany(f => Aggregates.Select(a => string.Format(CultureInfo.InvariantCulture, a.Function, Q(f)))));
        var where = $"time >= {from} AND time < {to}" + (extraCondition is null ? "" : $" AND {extraCondition}");
        return $"SELECT {select} FROM {Q(measurement)} WHERE {where} GROUP BY time({IntervalLiteral(interval)}), * fill(none)";
    }

    /// <summary>InfluxDB's aggregates of the raw points of <paramref name="measurement"/>; fields without points in a window are absent.</summary>
    public async Task<WindowSet> ExpectedAsync(string measurement, IReadOnlyList<string> fields, TimeSpan interval, long from, long to, string? extraCondition = null)
    {
        var result = new WindowSet();
        var query = ExpectedQuery(measurement, fields, interval, from, to, extraCondition);
        foreach (var s in await InfluxRows.QueryAsync(influx, db, query))
        {
            if (s.Columns.Length != 1 + fields.Count * Aggregates.Length)
                throw new InvalidOperationException($"oracle query returned {s.Columns.Length} columns ({string.Join(",", s.Columns)}): {query}");
            foreach (var row in s.Values)
            {
                var key = new WindowKey(measurement, InfluxRows.CanonicalTags(s.Tags), row[0].GetInt64());
                var values = new Dictionary<string, double>(StringComparer.Ordinal);
                for (int f = 0; f < fields.Count; f++)
                {
                    int at = 1 + f * Aggregates.Length;
                    var count = InfluxRows.Number(row[at + 4]);
                    if (count is null or 0) continue;
                    for (int a = 0; a < Aggregates.Length; a++)
                    {
                        var v = InfluxRows.Number(row[at + a])
                                ?? throw new InvalidOperationException($"oracle: {key} {Aggregates[a].Function} of {fields[f]} is null with count {count}: {query}");
                        values[fields[f] + "_" + Aggregates[a].Suffix] = v;
                    }
                }
                if (values.Count > 0) result[key] = values;
            }
        }
        return result;
    }

    /// <summary>The rows the daemon wrote to <c>measurement_tier</c>, keyed like <see cref="ExpectedAsync"/>.</summary>
    public async Task<WindowSet> ActualAsync(string measurement, string tier, long from, long to)
    {
        var result = new WindowSet();
        var query = $"SELECT * FROM {Q(measurement + "_" + tier)} WHERE time >= {from} AND time < {to} GROUP BY *";
        foreach (var s in await InfluxRows.QueryAsync(influx, db, query))
        {
            foreach (var row in s.Values)
            {
                var key = new WindowKey(measurement, InfluxRows.CanonicalTags(s.Tags), row[0].GetInt64());
                var values = new Dictionary<string, double>(StringComparer.Ordinal);
                for (int c = 1; c < s.Columns.Length; c++)
                {
                    if (InfluxRows.Number(row[c]) is { } v) values[s.Columns[c]] = v;
                }
                result[key] = values;
            }
        }
        return result;
    }

    /// <summary>Every difference between <paramref name="expected"/> and <paramref name="actual"/>, one precise line each.</summary>
    public static List<string> Compare(WindowSet expected, WindowSet actual, string tier, Tolerance tolerance)
    {
        var problems = new List<string>();
        foreach (var key in expected.Keys.Union(actual.Keys).OrderBy(k => k.Measurement, StringComparer.Ordinal)
                     .ThenBy(k => k.Tags, StringComparer.Ordinal).ThenBy(k => k.Start))
        {
            string where = $"[{tier}] {key.Measurement}_{tier}{(key.Tags.Length > 0 ? "," + key.Tags : "")} window {InfluxRows.Time(key.Start)}";
            if (!expected.TryGetValue(key, out var exp))
            {
                problems.Add($"{where}: unexpected window (no raw points in it): {Describe(actual[key])}");
                continue;
            }
            if (!actual.TryGetValue(key, out var act))
            {
                problems.Add($"{where}: window missing; expected {Describe(exp)}");
                continue;
            }
            foreach (var column in exp.Keys.Union(act.Keys).OrderBy(c => c, StringComparer.Ordinal))
            {
                bool hasE = exp.TryGetValue(column, out double e);
                bool hasA = act.TryGetValue(column, out double a);
                int us = column.LastIndexOf('_');
                string field = us > 0 ? column[..us] : column, suffix = us > 0 ? column[(us + 1)..] : "";
                string fn = Aggregates.FirstOrDefault(x => x.Suffix == suffix).Function is { } f
                    ? string.Format(CultureInfo.InvariantCulture, f, field)
                    : "?";
                if (!hasE)
                {
                    problems.Add($"{where} {column}: unexpected field (InfluxDB {fn} over raw has no value), actual {InfluxRows.Fmt(a)}");
                    continue;
                }
                if (!hasA)
                {
                    problems.Add($"{where} {column}: field missing; expected {InfluxRows.Fmt(e)} = InfluxDB {fn} over raw");
                    continue;
                }
                double allowed = suffix switch
                {
                    "count" => 0,
                    "p50" or "p90" or "p95" or "p99" => tolerance.Percentile * Math.Abs(e) * (1 + 1e-9),
                    "mean" => tolerance.Relative * Math.Max(Math.Abs(e), Magnitude(exp, field)),
                    "sum" => tolerance.Relative * Math.Max(Math.Abs(e), Magnitude(exp, field) * exp.GetValueOrDefault(field + "_count", 1)),
                    _ => tolerance.Relative * Math.Abs(e),
                };
                double diff = Math.Abs(a - e);
                if (diff > allowed || double.IsNaN(a))
                {
                    string rel = e != 0 ? $", relative {(diff / Math.Abs(e)).ToString("G3", CultureInfo.InvariantCulture)}" : "";
                    problems.Add($"{where} {column}: expected {InfluxRows.Fmt(e)} (InfluxDB {fn} over raw), actual {InfluxRows.Fmt(a)}; " +
                                 $"|diff| {diff.ToString("G3", CultureInfo.InvariantCulture)} > allowed {allowed.ToString("G3", CultureInfo.InvariantCulture)}{rel}");
                }
            }
        }
        return problems;
    }

    /// <summary>Largest magnitude among the window's values of <paramref name="field"/>: the scale of a sum's rounding error.</summary>
    private static double Magnitude(Dictionary<string, double> window, string field) =>
        Math.Max(Math.Abs(window.GetValueOrDefault(field + "_min")), Math.Abs(window.GetValueOrDefault(field + "_max")));

    private static string Describe(Dictionary<string, double> values) =>
        "{" + string.Join(", ", values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key}={InfluxRows.Fmt(v.Value)}")) + "}";

    /// <summary>
    /// Compares each measurement's tier rows with the oracle until they agree, or until the tier's rows have not
    /// changed for <paramref name="stableFor"/> (the daemon has written all it will), or <paramref name="timeout"/>.
    /// Returns the problems of the last comparison (empty: agreed).
    /// </summary>
    public async Task<List<string>> CompareWhenSettledAsync(
        IEnumerable<(string Measurement, IReadOnlyList<string> Fields)> measurements, string tier, TimeSpan interval,
        long from, long to, Tolerance tolerance, TimeSpan timeout, TimeSpan stableFor, string? extraCondition = null, Action<string>? log = null)
    {
        var list = measurements.ToList();
        var expected = new Dictionary<string, WindowSet>();
        foreach (var (m, fields) in list) expected[m] = await ExpectedAsync(m, fields, interval, from, to, extraCondition);
        // An empty oracle would make every comparison pass.
        var empty = list.Where(x => expected[x.Measurement].Count == 0).Select(x => $"oracle: no raw windows for {x.Measurement} at {tier}: {ExpectedQuery(x.Measurement, x.Fields, interval, from, to, extraCondition)}").ToList();
        if (empty.Count > 0) return empty;
        log?.Invoke($"[{tier}] oracle: {expected.Values.Sum(w => w.Count)} series windows, {expected.Values.Sum(w => w.FieldCount)} aggregate values over " +
                    string.Join(", ", list.Select(x => $"{x.Measurement}({string.Join("/", x.Fields)}): {expected[x.Measurement].Count}")));

        var sw = Stopwatch.StartNew();
        string? lastSnapshot = null;
        var unchanged = Stopwatch.StartNew();
        while (true)
        {
            var problems = new List<string>();
            var snapshot = new StringBuilder();
            foreach (var (m, _) in list)
            {
                var actual = await ActualAsync(m, tier, from, to);
                snapshot.Append(m).Append(':').Append(actual.Count).Append(':').Append(actual.FieldCount).Append(':')
                    .Append(string.Join(";", actual.OrderBy(kv => kv.Key.Tags, StringComparer.Ordinal).ThenBy(kv => kv.Key.Start)
                        .Select(kv => kv.Key.Tags + kv.Key.Start + string.Join(",", kv.Value.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Value.ToString("R", CultureInfo.InvariantCulture))))));
                problems.AddRange(Compare(expected[m], actual, tier, tolerance));
            }
            if (problems.Count == 0)
            {
                log?.Invoke($"[{tier}] agreed after {sw.Elapsed.TotalSeconds:0.0} s");
                return problems;
            }
            var text = snapshot.ToString();
            if (text != lastSnapshot) { lastSnapshot = text; unchanged.Restart(); }
            if (unchanged.Elapsed >= stableFor || sw.Elapsed >= timeout)
            {
                log?.Invoke($"[{tier}] {problems.Count} problems left after {sw.Elapsed.TotalSeconds:0.0} s (rows unchanged for {unchanged.Elapsed.TotalSeconds:0.0} s)");
                return problems;
            }
            await Task.Delay(250);
        }
    }

    /// <summary>At most <paramref name="max"/> problems, then a count per kind (column suffix or window problem) of all of them.</summary>
    public static string Summarise(IReadOnlyList<string> problems, int max = 40)
    {
        if (problems.Count == 0) return "";
        var sb = new StringBuilder();
        sb.Append(problems.Count).Append(" mismatches");
        var kinds = problems.GroupBy(p =>
        {
            if (p.Contains("window missing")) return "window missing";
            if (p.Contains("unexpected window")) return "unexpected window";
            int colon = p.IndexOf(": ", p.IndexOf(" window ", StringComparison.Ordinal), StringComparison.Ordinal);
            var head = p[..colon];
            int us = head.LastIndexOf('_');
            return us > 0 ? head[(us + 1)..] + (p.Contains("field missing") ? " missing" : p.Contains("unexpected field") ? " unexpected" : " value") : "?";
        }).OrderByDescending(g => g.Count()).Select(g => $"{g.Key}: {g.Count()}");
        sb.Append(" (").Append(string.Join(", ", kinds)).Append(")\n");
        foreach (var p in problems.Take(max)) sb.Append("  ").Append(p).Append('\n');
        if (problems.Count > max) sb.Append("  … ").Append(problems.Count - max).Append(" more\n");
        return sb.ToString();
    }
}
