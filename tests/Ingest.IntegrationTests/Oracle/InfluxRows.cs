using System.Globalization;
using System.Text.Json;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>One series of an InfluxQL /query answer: name, tags (GROUP BY), columns and rows.</summary>
public sealed record SeriesRows(string Name, IReadOnlyDictionary<string, string> Tags, string[] Columns, JsonElement[][] Values)
{
    public int Column(string name)
    {
        int i = Array.IndexOf(Columns, name);
        return i;
    }
}

/// <summary>Reading /query answers (epoch=ns) without ceremony.</summary>
public static class InfluxRows
{
    /// <summary>Every series of statement <paramref name="statement"/>; empty when it returned nothing.</summary>
    public static List<SeriesRows> Parse(JsonElement root, int statement = 0)
    {
        var list = new List<SeriesRows>();
        var results = root.GetProperty("results");
        if (results.GetArrayLength() <= statement) return list;
        if (!results[statement].TryGetProperty("series", out var series)) return list;
        foreach (var s in series.EnumerateArray())
        {
            var tags = new Dictionary<string, string>(StringComparer.Ordinal);
            if (s.TryGetProperty("tags", out var t))
                foreach (var p in t.EnumerateObject()) tags[p.Name] = p.Value.GetString() ?? "";
            var columns = s.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToArray();
            var values = s.TryGetProperty("values", out var v)
                ? v.EnumerateArray().Select(r => r.EnumerateArray().ToArray()).ToArray()
                : [];
            list.Add(new SeriesRows(s.GetProperty("name").GetString() ?? "", tags, columns, values));
        }
        return list;
    }

    /// <summary>Runs the query; a missing database reads as "no series", so it can be polled before the first write.</summary>
    public static async Task<List<SeriesRows>> QueryAsync(InfluxServer influx, string db, string query)
    {
        try
        {
            return Parse(await influx.QueryAsync(db, query));
        }
        catch (InfluxQueryException ex) when (ex.Message.Contains("database not found", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }
    }

    /// <summary>A number cell as a double; null for JSON null (InfluxDB's "no value").</summary>
    public static double? Number(JsonElement cell) => cell.ValueKind switch
    {
        JsonValueKind.Number => cell.TryGetInt64(out long l) && !cell.GetRawText().Contains('.') && !cell.GetRawText().Contains('e', StringComparison.OrdinalIgnoreCase)
            ? l
            : cell.GetDouble(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => throw new FormatException($"expected a number or null, got {cell.ValueKind}: {cell.GetRawText()}"),
    };

    public static string? Text(JsonElement cell) => cell.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => cell.GetString(),
        _ => cell.GetRawText(),
    };

    /// <summary>
    /// Tags in a stable form for keys and messages: the line-protocol tag set (escaped, sorted by key), with empty
    /// values (tags the series does not have, as GROUP BY * reports them) left out.
    /// </summary>
    public static string CanonicalTags(IEnumerable<KeyValuePair<string, string>> tags) =>
        string.Join(",", tags.Where(t => t.Value.Length > 0).OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => $"{LineEscape.Key(t.Key)}={LineEscape.Key(t.Value)}"));

    public static string Time(long ns) =>
        DateTimeOffset.FromUnixTimeMilliseconds(Math.DivRem(ns, 1_000_000, out long rest) - (rest < 0 ? 1 : 0))
            .ToString("yyyy-MM-ddTHH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) + $" ({ns})";

    public static string Fmt(double? value) => value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "(absent)";
}
