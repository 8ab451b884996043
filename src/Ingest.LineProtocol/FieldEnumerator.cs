using System.Globalization;

namespace Ingest.LineProtocol;

/// <summary>
/// Walks a field set (<c>k=v,k2=v2</c>, as in <see cref="PointBatch.Fields"/>) without allocating, converting
/// each value to its type. It stops at the end of the span or at the first space outside a string, so it can
/// also be given the rest of a whole line. The input is expected to be valid (it came through the parser);
/// malformed input throws <see cref="FormatException"/>.
/// </summary>
public ref struct FieldEnumerator
{
    private readonly ReadOnlySpan<byte> _fields;
    private readonly bool _convert;
    private int _next;
    private LineField _current;

    public FieldEnumerator(ReadOnlySpan<byte> fields) : this(fields, convert: true)
    {
    }

    /// <param name="fields">The field set.</param>
    /// <param name="convert">
    /// False: only each value's type and raw bytes are given (the numeric members stay 0/NaN), for a reader that
    /// keeps values as written: parsing every float it does not need was a tenth of the live state's cost.
    /// </param>
    public FieldEnumerator(ReadOnlySpan<byte> fields, bool convert)
    {
        _fields = fields;
        _convert = convert;
        _next = fields.IsEmpty ? -1 : 0;
        _current = default;
        CurrentValueEnd = 0;
    }

    public readonly LineField Current => _current;

    /// <summary>Offset just past the current value; after the last field, where the field set ended.</summary>
    public int CurrentValueEnd { get; private set; }

    public readonly FieldEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_next < 0) return false;
        var s = _fields;
        int keyStart = _next;
        int eq = Syntax.IndexOfFieldKeyEnd(s, keyStart);
        if (eq <= keyStart || s[eq] != (byte)'=') ThrowHelper.ThrowMalformed("field without key or '='");
        var key = s.Slice(keyStart, eq - keyStart);
        int valueStart = eq + 1;
        if (valueStart >= s.Length) ThrowHelper.ThrowMalformed("field without value");

        int valueEnd;
        if (s[valueStart] == (byte)'"')
        {
            int close = Syntax.IndexOfClosingQuote(s, valueStart + 1);
            if (close < 0) ThrowHelper.ThrowMalformed("unterminated string");
            valueEnd = close + 1;
            _current = new LineField(key, FieldType.String, s.Slice(valueStart + 1, close - valueStart - 1), double.NaN, 0, 0, false);
        }
        else
        {
            int j = s.Slice(valueStart).IndexOfAny(Syntax.FieldValueStops);
            valueEnd = j < 0 ? s.Length : valueStart + j;
            var raw = s.Slice(valueStart, valueEnd - valueStart);
            _current = _convert ? Convert(key, raw) : new LineField(key, TypeOf(raw), raw, double.NaN, 0, 0, false);
        }

        CurrentValueEnd = valueEnd;
        _next = valueEnd < s.Length && s[valueEnd] == (byte)',' ? valueEnd + 1 : -1;
        return true;
    }

    /// <summary>The type of an unquoted value, by the same rules as <see cref="Convert"/>, without converting it.</summary>
    public static FieldType TypeOf(ReadOnlySpan<byte> raw)
    {
        if (raw.IsEmpty) return ThrowHelper.ThrowMalformed<FieldType>("empty value");
        byte last = raw[^1];
        if (raw.Length > 1 && Syntax.IsDigit(raw[^2]))
        {
            if (last == (byte)'i') return FieldType.Integer;
            if (last == (byte)'u') return FieldType.Unsigned;
        }
        return LineProtocolParser.IsBoolean(raw) ? FieldType.Boolean : FieldType.Float;
    }

    private static LineField Convert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> raw)
    {
        if (raw.IsEmpty) return ThrowHelper.ThrowMalformed<LineField>("empty value");
        byte last = raw[^1];
        if (last == (byte)'i' && raw.Length > 1 && Syntax.IsDigit(raw[^2]))
        {
            if (!long.TryParse(raw.Slice(0, raw.Length - 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                return ThrowHelper.ThrowMalformed<LineField>("bad integer");
            return new LineField(key, FieldType.Integer, raw, value, value, 0, false);
        }
        if (last == (byte)'u' && raw.Length > 1 && Syntax.IsDigit(raw[^2]))
        {
            if (!ulong.TryParse(raw.Slice(0, raw.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
                return ThrowHelper.ThrowMalformed<LineField>("bad unsigned");
            return new LineField(key, FieldType.Unsigned, raw, value, 0, value, false);
        }
        if (LineProtocolParser.IsBoolean(raw))
        {
            bool value = raw[0] is (byte)'t' or (byte)'T';
            return new LineField(key, FieldType.Boolean, raw, value ? 1 : 0, 0, 0, value);
        }
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
            return ThrowHelper.ThrowMalformed<LineField>("bad float");
        return new LineField(key, FieldType.Float, raw, number, 0, 0, false);
    }
}
