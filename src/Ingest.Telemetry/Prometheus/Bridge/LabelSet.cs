using System.Globalization;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Bridge;

/// <summary>The Prometheus labels of one measurement's tags, in a canonical order.</summary>
internal sealed class LabelSet
{
    private LabelSet(string[] names, string[] values, string key)
    {
        Names = names;
        Values = values;
        Key = key;
    }

    public string[] Names { get; }

    public string[] Values { get; }

    /// <summary>Names and values joined; the identity of the series within its instrument.</summary>
    public string Key { get; }

    /// <summary>
    /// Pairs are sorted by tag key (then value), so the same set passed in any order gives the same labels (and
    /// so the same series). Two keys that sanitise to the same label name ("a.b" and "a_b", or a repeated key)
    /// would be refused by prometheus-net, so the later one in key order gets "_2", "_3"….
    /// </summary>
    public static LabelSet From(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty) return Empty;
        var pairs = new (string Key, string Value)[tags.Length];
        for (int i = 0; i < tags.Length; i++) pairs[i] = (tags[i].Key ?? string.Empty, FormatValue(tags[i].Value));
        Array.Sort(pairs, static (a, b) =>
        {
            int byKey = string.CompareOrdinal(a.Key, b.Key);
            return byKey != 0 ? byKey : string.CompareOrdinal(a.Value, b.Value);
        });

        var used = new HashSet<string>(StringComparer.Ordinal);
        var names = new string[pairs.Length];
        var values = new string[pairs.Length];
        for (int i = 0; i < pairs.Length; i++)
        {
            string name = LabelNaming.Sanitize(pairs[i].Key);
            if (!used.Add(name))
            {
                int ordinal = 2;
                while (!used.Add($"{name}_{ordinal}")) ordinal++;
                name = $"{name}_{ordinal}";
            }
            names[i] = name;
            values[i] = pairs[i].Value;
        }
        // Label names cannot hold '\n', so it separates unambiguously; values are length-prefixed.
        string key = string.Join('\n', names.Select((n, i) => $"{n}\n{values[i].Length}:{values[i]}"));
        return new LabelSet(names, values, key);
    }

    private static readonly LabelSet Empty = new([], [], string.Empty);

    private static string FormatValue(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
