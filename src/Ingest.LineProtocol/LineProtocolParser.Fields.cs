using System.Globalization;
using System.Runtime.CompilerServices;

namespace Ingest.LineProtocol;

public sealed partial class LineProtocolParser
{
    /// <summary>
    /// Validates the field set that starts at or after <paramref name="from"/> (blanks skipped) and ends at the
    /// first space outside a string value or at the end of the line. Values are checked, not converted.
    /// </summary>
    private static Fault ScanFields(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int from, in LineContext context,
        out int fieldsStart, out int fieldsEnd, out bool hasUnsigned)
    {
        hasUnsigned = false;
        int p = Syntax.SkipWhitespace(line, from);
        fieldsStart = fieldsEnd = p;
        if (p >= line.Length) return new Fault(LineFault.MissingFields);

        bool onlyTime = true;
        while (true)
        {
            int keyStart = p;
            int eq = NextFieldKeyEnd(line, ref scanner, p);
            if (eq < 0 || line[eq] != (byte)'=') return new Fault(LineFault.InvalidFieldFormat);
            if (eq == keyStart) return new Fault(LineFault.MissingFieldKey);
            if (onlyTime && !(eq - keyStart == 4 && line.Slice(keyStart, 4).SequenceEqual("time"u8))) onlyTime = false;

            int valueStart = eq + 1;
            if (valueStart >= line.Length) return new Fault(LineFault.MissingFieldValue);
            byte first = line[valueStart];
            int valueEnd;
            if (first == (byte)'"')
            {
                int close = NextClosingQuote(line, ref scanner, valueStart + 1);
                if (close < 0) return new Fault(LineFault.UnbalancedQuotes);
                valueEnd = close + 1;
                if (valueEnd < line.Length && line[valueEnd] is not ((byte)',' or (byte)' '))
                    return new Fault(line[valueEnd] == (byte)'"' ? LineFault.UnbalancedQuotes : LineFault.InvalidFieldFormat);
            }
            else
            {
                if (first is (byte)',' or (byte)' ') return new Fault(LineFault.MissingFieldValue);
                valueEnd = NextValueEnd(line, ref scanner, valueStart + 1);
                if (Syntax.IsDigit(first) || first is (byte)'-' or (byte)'.' or (byte)'N' or (byte)'n' or (byte)'I' or (byte)'i')
                {
                    var fault = CheckNumber(line, valueStart, valueEnd, in context, ref hasUnsigned);
                    if (!fault.IsNone) return fault;
                }
                else if (!IsBoolean(line.Slice(valueStart, valueEnd - valueStart)))
                {
                    return new Fault(LineFault.InvalidBoolean, valueStart, valueEnd - valueStart);
                }
            }

            if (valueEnd == line.Length || line[valueEnd] == (byte)' ')
            {
                fieldsEnd = valueEnd;
                break;
            }
            p = valueEnd + 1; // past the comma
            if (p >= line.Length) return new Fault(LineFault.InvalidFieldFormat);
        }

        if (onlyTime) return new Fault(LineFault.TimeIsOnlyField);
        return Fault.None;
    }

    /// <summary>End of a field key: '=', or the ' '/',' that breaks it; a backslash swallows the next byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NextFieldKeyEnd(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int from)
    {
        while (true)
        {
            int j = scanner.Next(from);
            if (j < 0) return -1;
            byte b = line[j];
            if (b == (byte)'\\') from = j + 2;
            else if (b == (byte)'"') from = j + 1;
            else return j;
        }
    }

    /// <summary>End of an unquoted value: the next ' ' or ',', or the end of the line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NextValueEnd(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int from)
    {
        while (true)
        {
            int j = scanner.Next(from);
            if (j < 0) return line.Length;
            if (line[j] is (byte)' ' or (byte)',') return j;
            from = j + 1;
        }
    }

    /// <summary>The quote closing a string value; a backslash swallows the next byte. -1 if unterminated.</summary>
    private static int NextClosingQuote(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int from)
    {
        while (true)
        {
            int j = scanner.Next(from);
            if (j < 0) return -1;
            byte b = line[j];
            if (b == (byte)'"') return j;
            from = b == (byte)'\\' ? j + 2 : j + 1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsBoolean(ReadOnlySpan<byte> v) => v.Length switch
    {
        1 => v[0] is (byte)'t' or (byte)'T' or (byte)'f' or (byte)'F',
        4 => v.SequenceEqual("true"u8) || v.SequenceEqual("True"u8) || v.SequenceEqual("TRUE"u8),
        5 => v.SequenceEqual("false"u8) || v.SequenceEqual("False"u8) || v.SequenceEqual("FALSE"u8),
        _ => false,
    };

    /// <summary>
    /// Checks the grammar InfluxDB accepts: <c>-?digits[i|u]</c> or <c>-?digits[.digits][(e|E)[+|-]digits]</c>,
    /// with at least one mantissa digit. The grammar alone already excludes what .NET would otherwise accept
    /// (<c>+</c>, hex, <c>_</c>, NaN/Infinity, blanks), so double.TryParse is only asked about range, and only
    /// when the value could be out of range (an exponent, or over 300 integer digits).
    /// </summary>
    private static Fault CheckNumber(ReadOnlySpan<byte> line, int start, int end, in LineContext context, ref bool hasUnsigned)
    {
        var v = line.Slice(start, end - start);
        int p = 0;
        bool negative = v[0] == (byte)'-';
        if (negative) p = 1;
        int intStart = p;
        p = SkipDigits(v, p);
        int intDigits = p - intStart;

        if (p == v.Length)
        {
            if (intDigits == 0) return new Fault(LineFault.InvalidNumber, start, v.Length);
            return intDigits <= 300 ? Fault.None : CheckFloatRange(v, start);
        }

        byte c = v[p];
        if ((c == (byte)'i' || c == (byte)'u') && p == v.Length - 1 && intDigits > 0)
        {
            var digits = v.Slice(intStart, intDigits);
            ulong magnitude;
            bool ok = intDigits <= 19 ? Syntax.TryParseShortDigits(digits, out magnitude) : Syntax.TryParseMagnitude(digits, out magnitude);
            if (c == (byte)'i')
            {
                ulong limit = negative ? 9223372036854775808UL : long.MaxValue;
                return ok && magnitude <= limit ? Fault.None : new Fault(LineFault.IntegerOutOfRange, start, v.Length - 1);
            }
            if (negative) return new Fault(LineFault.InvalidNumber, start, v.Length);
            if (!ok) return new Fault(LineFault.UnsignedOutOfRange, start, v.Length - 1);
            hasUnsigned = true;
            if (context.UnsignedAsInteger && magnitude > long.MaxValue)
                return new Fault(LineFault.UnsignedTooLargeForInteger, start, v.Length - 1);
            return Fault.None;
        }

        int fracDigits = 0;
        if (c == (byte)'.')
        {
            int fracStart = p + 1;
            p = SkipDigits(v, fracStart);
            fracDigits = p - fracStart;
        }
        if (intDigits + fracDigits == 0) return new Fault(LineFault.InvalidNumber, start, v.Length);

        bool exponent = false;
        if (p < v.Length && (v[p] == (byte)'e' || v[p] == (byte)'E'))
        {
            p++;
            if (p < v.Length && (v[p] == (byte)'+' || v[p] == (byte)'-')) p++;
            int expStart = p;
            p = SkipDigits(v, p);
            if (p == expStart) return new Fault(LineFault.InvalidNumber, start, v.Length);
            exponent = true;
        }
        if (p != v.Length) return new Fault(LineFault.InvalidNumber, start, v.Length);
        return exponent || intDigits > 300 ? CheckFloatRange(v, start) : Fault.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipDigits(ReadOnlySpan<byte> v, int i)
    {
        while ((uint)i < (uint)v.Length && Syntax.IsDigit(v[i])) i++;
        return i;
    }

    private static Fault CheckFloatRange(ReadOnlySpan<byte> v, int start)
    {
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            return new Fault(LineFault.InvalidNumber, start, v.Length);
        return double.IsFinite(value) ? Fault.None : new Fault(LineFault.InvalidFloat, start, v.Length);
    }
}
