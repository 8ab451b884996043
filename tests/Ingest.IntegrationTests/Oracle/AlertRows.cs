using System.Globalization;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>One alert event as stored in InfluxDB: its tags (rule, level, measurement, the series' tags) and fields.</summary>
public sealed record AlertRow(long Time, IReadOnlyDictionary<string, string> Tags, double? Value, string? Previous, string? Message)
{
    public string Rule => Tags.GetValueOrDefault("rule", "");
    public string Level => Tags.GetValueOrDefault("level", "");

    public override string ToString() =>
        $"{InfluxRows.Time(Time)} {{{InfluxRows.CanonicalTags(Tags)}}} value={InfluxRows.Fmt(Value)} previous={Previous ?? "(absent)"} message=\"{Message}\"";
}

public static class AlertRows
{
    /// <summary>Every row of the alert measurement in <paramref name="db"/>, in time order; empty before it exists.</summary>
    public static async Task<List<AlertRow>> ReadAsync(InfluxServer influx, string db, string measurement = "alerts")
    {
        var rows = new List<AlertRow>();
        foreach (var s in await InfluxRows.QueryAsync(influx, db, $"SELECT * FROM {InfluxServer.QuoteIdentifier(measurement)} GROUP BY *"))
        {
            int value = s.Column("value"), previous = s.Column("previous"), message = s.Column("message");
            var tags = s.Tags.Where(t => t.Value.Length > 0).ToDictionary(t => t.Key, t => t.Value);
            foreach (var r in s.Values)
                rows.Add(new AlertRow(r[0].GetInt64(), tags,
                    value >= 0 ? InfluxRows.Number(r[value]) : null,
                    previous >= 0 ? InfluxRows.Text(r[previous]) : null,
                    message >= 0 ? InfluxRows.Text(r[message]) : null));
        }
        return rows.OrderBy(r => r.Time).ThenBy(r => r.Rule, StringComparer.Ordinal).ToList();
    }

    /// <summary>For failure messages: which databases hold an alert measurement at all, and how many rows.</summary>
    public static async Task<string> WhereAreTheyAsync(InfluxServer influx, string measurement = "alerts")
    {
        var dbs = (await InfluxRows.QueryAsync(influx, "", "SHOW DATABASES")).SelectMany(s => s.Values).Select(r => r[0].GetString()!).ToList();
        var found = new List<string>();
        foreach (var db in dbs)
        {
            var n = (await ReadAsync(influx, db, measurement)).Count;
            if (n > 0) found.Add($"{db}: {n}");
        }
        return $"'{measurement}' rows per database: {(found.Count == 0 ? "none anywhere" : string.Join(", ", found))} (databases: {string.Join(", ", dbs)})";
    }

    public static string Describe(IEnumerable<AlertRow> rows)
    {
        var list = rows.ToList();
        return list.Count == 0 ? "(none)" : string.Join("\n", list.Select(r => "    " + r));
    }

    public static string Seconds(long ns, long origin) => ((ns - origin) / 1e9).ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
