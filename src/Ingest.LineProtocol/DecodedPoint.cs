using System.Globalization;

namespace Ingest.LineProtocol;

/// <summary>A field value of any of the five types, as managed data. Only the member for <see cref="Type"/> is set.</summary>
public readonly record struct FieldValue(FieldType Type, double Float, long Integer, ulong Unsigned, string? String, bool Boolean)
{
    public static FieldValue FromFloat(double value) => new(FieldType.Float, value, 0, 0, null, false);
    public static FieldValue FromInteger(long value) => new(FieldType.Integer, 0, value, 0, null, false);
    public static FieldValue FromUnsigned(ulong value) => new(FieldType.Unsigned, 0, 0, value, null, false);
    public static FieldValue FromString(string value) => new(FieldType.String, 0, 0, 0, value, false);
    public static FieldValue FromBoolean(bool value) => new(FieldType.Boolean, 0, 0, 0, null, value);

    public override string ToString() => Type switch
    {
        FieldType.Float => Float.ToString("R", CultureInfo.InvariantCulture),
        FieldType.Integer => Integer.ToString(CultureInfo.InvariantCulture) + "i",
        FieldType.Unsigned => Unsigned.ToString(CultureInfo.InvariantCulture) + "u",
        FieldType.Boolean => Boolean ? "true" : "false",
        _ => "\"" + String + "\"",
    };
}

public sealed record DecodedTag(string Key, string Value);

public sealed record DecodedField(string Key, FieldValue Value);

/// <summary>
/// A point as managed, unescaped data: for tests, tools and alert messages, not for the hot path.
/// Tags and fields keep their order (canonical lines have tags sorted; duplicate field keys are all kept,
/// and the last one is the one InfluxDB stores).
/// </summary>
public sealed record DecodedPoint(string Measurement, IReadOnlyList<DecodedTag> Tags, IReadOnlyList<DecodedField> Fields, long Timestamp)
{
    public bool Equals(DecodedPoint? other) =>
        other is not null
        && Measurement == other.Measurement
        && Timestamp == other.Timestamp
        && Tags.SequenceEqual(other.Tags)
        && Fields.SequenceEqual(other.Fields);

    public override int GetHashCode() => HashCode.Combine(Measurement, Timestamp, Tags.Count, Fields.Count);

    public override string ToString() =>
        $"{Measurement}[{string.Join(",", Tags.Select(t => $"{t.Key}={t.Value}"))}] " +
        $"{string.Join(",", Fields.Select(f => $"{f.Key}={f.Value}"))} {Timestamp}";
}
