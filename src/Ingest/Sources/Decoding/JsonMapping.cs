using Ingest.Configuration;
using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>How a JSON timestamp is read (<c>Json:TimeFormat</c>).</summary>
public enum JsonTimeFormat
{
    UnixSeconds,
    UnixMilliseconds,
    UnixMicroseconds,
    UnixNanoseconds,
    Rfc3339,
}

/// <summary>
/// How a JSON document becomes points (<c>Sources:&lt;name&gt;:Json</c>): which elements are items (one point
/// each), and for each item its measurement, tags, fields and time, every one an expression (see
/// <see cref="JsonExpression"/>) compiled when the configuration is read.
/// </summary>
public sealed record JsonMapping
{
    /// <summary>The items' array; null: the document (an array document gives one point per element).</summary>
    internal JsonExpression? Items { get; init; }

    /// <summary>A fixed measurement name, or null when <see cref="MeasurementPath"/> gives it.</summary>
    public string? Measurement { get; init; }

    internal JsonExpression? MeasurementPath { get; init; }

    /// <summary>Tag name → expression, in configuration order.</summary>
    internal IReadOnlyList<(string Name, JsonExpression Value)> Tags { get; init; } = [];

    /// <summary>Field name → expression and the type it is converted to (null: the JSON type decides).</summary>
    internal IReadOnlyList<(string Name, JsonExpression Value, FieldType? Type)> Fields { get; init; } = [];

    /// <summary>The item's time; null: the message's arrival time.</summary>
    internal JsonExpression? Time { get; init; }

    public JsonTimeFormat TimeFormat { get; init; } = JsonTimeFormat.UnixNanoseconds;

    private static readonly Dictionary<string, JsonTimeFormat> TimeFormats = new()
    {
        ["unix_s"] = JsonTimeFormat.UnixSeconds,
        ["unix_ms"] = JsonTimeFormat.UnixMilliseconds,
        ["unix_us"] = JsonTimeFormat.UnixMicroseconds,
        ["unix_ns"] = JsonTimeFormat.UnixNanoseconds,
        ["rfc3339"] = JsonTimeFormat.Rfc3339,
    };

    private static readonly Dictionary<string, FieldType> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["float"] = FieldType.Float,
        ["integer"] = FieldType.Integer,
        ["unsigned"] = FieldType.Unsigned,
        ["string"] = FieldType.String,
        ["boolean"] = FieldType.Boolean,
    };

    /// <summary>Reads <c>Json</c> under the source's section <paramref name="source"/>; fails with the full key and value.</summary>
    internal static JsonMapping Read(SectionReader source)
    {
        var r = source.Section("Json");
        // One engine per mapping: JmesPath.Net keeps evaluation scope in it, and each source decodes on its own.
        var engine = new DevLab.JmesPath.JmesPath();
        JsonExpression? Expression(string key, string raw) => raw.Length == 0 ? null : Compile(r.Name + ":" + key, raw, engine);

        var items = Expression("Items", r.String("Items", ""));
        var measurement = r.String("Measurement", "");
        var measurementPathText = r.String("MeasurementPath", "");
        if (measurement.Length > 0 && measurementPathText.Length > 0)
            throw new ConfigurationError(r.Name + ":MeasurementPath", measurementPathText, "give Measurement or MeasurementPath, not both");
        if (measurement.Length == 0 && measurementPathText.Length == 0)
            throw new ConfigurationError(r.Name + ":Measurement", "", "a JSON mapping needs Measurement (a fixed name) or MeasurementPath (an expression)");
        if (measurement.Length > 0)
            Check(r.Name + ":Measurement", measurement, w => LineProtocolWriter.WriteMeasurement(w, measurement));
        var measurementPath = Expression("MeasurementPath", measurementPathText);

        var tags = new List<(string, JsonExpression)>();
        foreach (var (name, key, raw) in Map(r, "Tags"))
        {
            if (name is "time" or "_field" or "_measurement")
                throw new ConfigurationError(key, raw, $"'{name}' is not a tag key InfluxDB accepts");
            Check(key, raw, w => LineProtocolWriter.WriteTagKey(w, name));
            tags.Add((name, Compile(key, raw, engine)));
        }

        var types = new Dictionary<string, (string Key, string Raw, FieldType Type)>(StringComparer.Ordinal);
        foreach (var (name, key, raw) in Map(r, "FieldTypes"))
        {
            if (!Types.TryGetValue(raw, out var type))
                throw new ConfigurationError(key, raw, "expected one of: float, integer, unsigned, string, boolean");
            types[name] = (key, raw, type);
        }

        var fields = new List<(string, JsonExpression, FieldType?)>();
        foreach (var (name, key, raw) in Map(r, "Fields"))
        {
            if (name == "time") throw new ConfigurationError(key, raw, "InfluxDB drops a field named time");
            Check(key, raw, w => LineProtocolWriter.WriteFieldKey(w, name));
            fields.Add((name, Compile(key, raw, engine), types.Remove(name, out var t) ? t.Type : null));
        }
        if (fields.Count == 0)
            throw new ConfigurationError(r.Name + ":Fields", "", "a JSON mapping needs at least one field (name → expression)");
        foreach (var (_, (key, raw, _)) in types)
            throw new ConfigurationError(key, raw, "a type for a field that Fields does not have");

        var timeText = r.String("Time", "");
        var formatText = r.String("TimeFormat", "");
        var time = Expression("Time", timeText);
        if (time is null && formatText.Length > 0)
            throw new ConfigurationError(r.Name + ":TimeFormat", formatText, "TimeFormat needs Time (without Time, points get the message's arrival time)");
        if (time is not null && formatText.Length == 0)
            throw new ConfigurationError(r.Name + ":TimeFormat", "", "Time needs its TimeFormat: unix_s, unix_ms, unix_us, unix_ns or rfc3339");
        var format = r.Choice("TimeFormat", JsonTimeFormat.UnixNanoseconds, TimeFormats);
        r.RejectUnknownKeys();

        return new JsonMapping
        {
            Items = items,
            Measurement = measurement.Length > 0 ? measurement : null,
            MeasurementPath = measurementPath,
            Tags = tags,
            Fields = fields,
            Time = time,
            TimeFormat = format,
        };
    }

    private static JsonExpression Compile(string key, string raw, DevLab.JmesPath.JmesPath engine)
    {
        try
        {
            return JsonExpression.Compile(raw, engine);
        }
        catch (FormatException e)
        {
            throw new ConfigurationError(key, raw, e.Message);
        }
    }

    /// <summary>A section of name → value pairs (a value that is itself a section is an error).</summary>
    private static IEnumerable<(string Name, string Key, string Raw)> Map(SectionReader r, string section)
    {
        foreach (var child in r.Child(section).GetChildren())
        {
            var key = $"{r.Name}:{section}:{child.Key}";
            if (child.Value is null)
                throw new ConfigurationError(key, "", "expected a text value, not a section");
            var raw = child.Value.Trim();
            if (raw.Length == 0) throw new ConfigurationError(key, raw, "cannot be empty");
            yield return (child.Key, key, raw);
        }
    }

    /// <summary>Fails at start on a name line protocol cannot carry, with the writer's reason.</summary>
    private static void Check(string key, string value, Action<System.Buffers.ArrayBufferWriter<byte>> write)
    {
        try
        {
            write(new System.Buffers.ArrayBufferWriter<byte>());
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationError(key, value, e.Message);
        }
    }
}
