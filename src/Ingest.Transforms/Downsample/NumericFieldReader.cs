using System.Globalization;
using System.Runtime.CompilerServices;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// Walks a canonical field set (already validated by the parser) and yields only the numeric fields —
/// float, integer, unsigned — with their value as a double, skipping strings and booleans without converting
/// them. It exists because converting every value (what <c>FieldEnumerator</c> does) was the largest cost per
/// point; plain decimals take Clinger's exact fast path (a mantissa below 2^53 divided by an exact power of ten
/// is correctly rounded, so the result equals <see cref="double.Parse(string)"/>), anything else falls back to it.
/// </summary>
internal ref struct NumericFieldReader
{
    private static readonly double[] PowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    private readonly ReadOnlySpan<byte> _fields;
    private int _next;

    public NumericFieldReader(ReadOnlySpan<byte> fields)
    {
        _fields = fields;
        _next = 0;
        Key = default;
        Value = 0;
    }

    /// <summary>The field key, escaped as on the wire.</summary>
    public ReadOnlySpan<byte> Key { get; private set; }

    public double Value { get; private set; }

    public bool MoveNext()
    {
        var s = _fields;
        int i = _next;
        while (i < s.Length)
        {
            int keyStart = i;
            // In a field key a backslash takes the next byte with it, so an escaped '=' does not end the key.
            while (s[i] != (byte)'=') i += s[i] == (byte)'\\' ? 2 : 1;
            var key = s.Slice(keyStart, i - keyStart);
            i++;
            if (s[i] == (byte)'"')
            {
                i++;
                while (s[i] != (byte)'"') i += s[i] == (byte)'\\' ? 2 : 1;
                i += 2; // the quote and the comma after it
                continue;
            }
            int end = s.Slice(i).IndexOf((byte)',');
            end = end < 0 ? s.Length : i + end;
            var raw = s.Slice(i, end - i);
            i = end + 1;
            if (TryConvert(raw, out double value))
            {
                _next = i;
                Key = key;
                Value = value;
                return true;
            }
        }
        _next = s.Length;
        return false;
    }

    private static bool TryConvert(ReadOnlySpan<byte> raw, out double value)
    {
        byte last = raw[^1];
        if (last == (byte)'i') { value = ParseInteger(raw.Slice(0, raw.Length - 1)); return true; }
        if (last == (byte)'u') { value = ParseMagnitude(raw.Slice(0, raw.Length - 1)); return true; }
        if (raw[0] is (byte)'t' or (byte)'T' or (byte)'f' or (byte)'F') { value = 0; return false; }
        if (!TryParseShortDecimal(raw, out value))
            value = double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
        return true;
    }

    private static double ParseInteger(ReadOnlySpan<byte> digits) =>
        digits[0] == (byte)'-' ? -(double)ParseMagnitude(digits.Slice(1)) : (digits[0] == (byte)'+' ? ParseMagnitude(digits.Slice(1)) : ParseMagnitude(digits));

    // Validated digits of at most 20 places; ulong holds every value an integer or unsigned field can carry.
    private static ulong ParseMagnitude(ReadOnlySpan<byte> digits)
    {
        ulong v = 0;
        foreach (byte b in digits) v = unchecked(v * 10 + (uint)(b - '0'));
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseShortDecimal(ReadOnlySpan<byte> raw, out double value)
    {
        value = 0;
        int i = 0;
        bool negative = false;
        if (raw[0] == (byte)'-') { negative = true; i = 1; }
        ulong mantissa = 0;
        int digits = 0, fraction = -1;
        for (; i < raw.Length; i++)
        {
            uint d = (uint)(raw[i] - '0');
            if (d <= 9)
            {
                mantissa = mantissa * 10 + d;
                if (++digits > 15) return false;
                if (fraction >= 0) fraction++;
            }
            else if (raw[i] == (byte)'.' && fraction < 0) fraction = 0;
            else return false;
        }
        if (digits == 0) return false;
        value = fraction > 0 ? mantissa / PowersOfTen[fraction] : mantissa;
        if (negative) value = -value;
        return true;
    }
}
