using System.Globalization;

namespace Ingest.LineProtocol;

/// <summary>
/// One field as seen by <see cref="FieldEnumerator"/>: spans into the batch, nothing copied. Only the members
/// matching <see cref="Type"/> are meaningful, except <see cref="NumericValue"/>, which every type fills.
/// </summary>
public readonly ref struct LineField
{
    internal LineField(ReadOnlySpan<byte> key, FieldType type, ReadOnlySpan<byte> raw, double number, long int64, ulong uint64, bool boolean)
    {
        Key = key;
        Type = type;
        RawValue = raw;
        NumericValue = number;
        Int64Value = int64;
        UInt64Value = uint64;
        BooleanValue = boolean;
    }

    /// <summary>The field key, escaped as on the wire.</summary>
    public ReadOnlySpan<byte> Key { get; }

    public FieldType Type { get; }

    /// <summary>
    /// The value as written: for strings the text between the quotes (still escaped), for numbers including
    /// the <c>i</c>/<c>u</c> suffix.
    /// </summary>
    public ReadOnlySpan<byte> RawValue { get; }

    /// <summary>
    /// The value as a double, for aggregation: floats as they are, integers converted (large ones lose
    /// precision), booleans as 1 or 0, strings as NaN.
    /// </summary>
    public double NumericValue { get; }

    public long Int64Value { get; }

    public ulong UInt64Value { get; }

    public bool BooleanValue { get; }

    /// <summary>The unescaped key (allocates).</summary>
    public string KeyString() => Escaping.Unescape(Key, EscapeKind.Key);

    /// <summary>The unescaped string value (allocates); only for <see cref="FieldType.String"/>.</summary>
    public string StringValue()
    {
        if (Type != FieldType.String) ThrowHelper.ThrowWrongType(Type, FieldType.String);
        return Escaping.Unescape(RawValue, EscapeKind.StringValue);
    }

    /// <summary>A managed copy of the value (allocates for strings).</summary>
    public FieldValue ToFieldValue() => Type switch
    {
        FieldType.Float => FieldValue.FromFloat(NumericValue),
        FieldType.Integer => FieldValue.FromInteger(Int64Value),
        FieldType.Unsigned => FieldValue.FromUnsigned(UInt64Value),
        FieldType.Boolean => FieldValue.FromBoolean(BooleanValue),
        _ => FieldValue.FromString(StringValue()),
    };

    public override string ToString() => $"{KeyString()}={Type}:{(Type == FieldType.String ? StringValue() : NumericValue.ToString(CultureInfo.InvariantCulture))}";
}
