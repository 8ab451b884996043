using System.Globalization;
using System.Text;
using Ingest.Telemetry.Prometheus.Naming;
using Ingest.Telemetry.Prometheus.Text;

namespace Ingest.Telemetry.Prometheus.Aggregation;

internal static class LabelEncoder
{
    /// <summary>
    /// Builds the escaped <c>name="value",…</c> text of a label set. Pairs are sorted by tag key so the same
    /// set passed in any order gives the same text (and so the same series). Two keys that sanitise to the
    /// same label name ("a.b" and "a_b", or a repeated key) would make a sample unparsable, so the later one
    /// in key order gets "_2", "_3"….
    /// </summary>
    public static string Encode(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty) return string.Empty;
        var pairs = new (string Key, string Value)[tags.Length];
        for (int i = 0; i < tags.Length; i++) pairs[i] = (tags[i].Key ?? string.Empty, FormatValue(tags[i].Value));
        Array.Sort(pairs, static (a, b) =>
        {
            int byKey = string.CompareOrdinal(a.Key, b.Key);
            return byKey != 0 ? byKey : string.CompareOrdinal(a.Value, b.Value);
        });

        var used = new HashSet<string>(StringComparer.Ordinal);
        var sb = new StringBuilder();
        foreach (var (key, value) in pairs)
        {
            string name = LabelNaming.Sanitize(key);
            if (!used.Add(name))
            {
                int ordinal = 2;
                while (!used.Add($"{name}_{ordinal}")) ordinal++;
                name = $"{name}_{ordinal}";
            }
            if (sb.Length > 0) sb.Append(',');
            sb.Append(name).Append("=\"").Append(TextEscaping.LabelValue(value)).Append('"');
        }
        return sb.ToString();
    }

    private static string FormatValue(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
