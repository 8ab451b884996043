using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Ingest.LineProtocol;

/// <summary>Byte-level rules shared by the parser, the decoder and the enumerator.</summary>
/// <remarks>
/// InfluxDB escapes in two different ways and we follow both, because they decide where a line splits:
/// in the series key a separator is escaped when the byte before it is a backslash (so <c>\\,</c> is an
/// escaped comma), while in the field set and inside string values a backslash swallows the next byte.
/// </remarks>
internal static class Syntax
{
    public const int MaxKeyLength = 65535;
    public const long MinNanoTime = long.MinValue + 2;
    public const long MaxNanoTime = long.MaxValue - 1;

    public static readonly SearchValues<byte> MeasurementStops = SearchValues.Create(" ,"u8);
    public static readonly SearchValues<byte> TagStops = SearchValues.Create(" ,="u8);
    public static readonly SearchValues<byte> FieldKeyStops = SearchValues.Create(" ,=\\"u8);
    public static readonly SearchValues<byte> FieldValueStops = SearchValues.Create(" ,"u8);
    public static readonly SearchValues<byte> StringStops = SearchValues.Create("\"\\"u8);
    public static readonly SearchValues<byte> LineStops = SearchValues.Create("\n\""u8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SkipWhitespace(ReadOnlySpan<byte> s, int i)
    {
        while ((uint)i < (uint)s.Length && IsWhitespace(s[i])) i++;
        return i;
    }

    /// <summary>
    /// First byte of <paramref name="stops"/> at or after <paramref name="from"/> (which must be at least 1)
    /// that is not preceded by a backslash; -1 if none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int IndexOfUnescaped(ReadOnlySpan<byte> s, int from, SearchValues<byte> stops)
    {
        while ((uint)from < (uint)s.Length)
        {
            int j = s.Slice(from).IndexOfAny(stops);
            if (j < 0) return -1;
            j += from;
            if (s[j - 1] != (byte)'\\') return j;
            from = j + 1;
        }
        return -1;
    }

    /// <summary>End of a field key (the '=' or the ' '/',' that breaks it), with backslash swallowing the next byte; -1 at end of input.</summary>
    public static int IndexOfFieldKeyEnd(ReadOnlySpan<byte> s, int from)
    {
        while ((uint)from < (uint)s.Length)
        {
            int j = s.Slice(from).IndexOfAny(FieldKeyStops);
            if (j < 0) return -1;
            j += from;
            if (s[j] != (byte)'\\') return j;
            from = j + 2;
        }
        return -1;
    }

    /// <summary>Index of the quote closing a string value that opened just before <paramref name="from"/>; -1 if unterminated.</summary>
    public static int IndexOfClosingQuote(ReadOnlySpan<byte> s, int from)
    {
        while ((uint)from < (uint)s.Length)
        {
            int j = s.Slice(from).IndexOfAny(StringStops);
            if (j < 0) return -1;
            j += from;
            if (s[j] == (byte)'"') return j;
            from = j + 2;
        }
        return -1;
    }

    /// <summary>
    /// Parses a run of ASCII digits (leading zeros allowed) as an unsigned magnitude. False on overflow.
    /// The caller has checked that every byte is a digit and that there is at least one.
    /// </summary>
    public static bool TryParseMagnitude(ReadOnlySpan<byte> digits, out ulong value)
    {
        int i = 0;
        while (i < digits.Length - 1 && digits[i] == (byte)'0') i++;
        digits = digits.Slice(i);
        value = 0;
        if (digits.Length > 20) return false;
        if (digits.Length < 20)
        {
            foreach (byte b in digits) value = value * 10 + (uint)(b - '0');
            return true;
        }
        for (int k = 0; k < 19; k++) value = value * 10 + (uint)(digits[k] - '0');
        uint last = (uint)(digits[19] - '0');
        // ulong.MaxValue is 18446744073709551615.
        if (value > 1844674407370955161UL || (value == 1844674407370955161UL && last > 5)) return false;
        value = value * 10 + last;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    /// <summary>
    /// Parses up to 19 ASCII digits (which cannot overflow a ulong); false if any byte is not a digit.
    /// Eight digits at a time: a digit-by-digit loop is one long multiply-add dependency chain, and every
    /// Telegraf line ends in a 19-digit timestamp.
    /// </summary>
    public static bool TryParseShortDigits(ReadOnlySpan<byte> digits, out ulong value)
    {
        value = 0;
        int i = 0;
        for (; digits.Length - i >= 8; i += 8)
        {
            ulong chunk = BinaryPrimitives.ReadUInt64LittleEndian(digits.Slice(i));
            if (((chunk & 0xF0F0F0F0F0F0F0F0UL) | (((chunk + 0x0606060606060606UL) & 0xF0F0F0F0F0F0F0F0UL) >> 4)) != 0x3333333333333333UL)
                return false;
            chunk -= 0x3030303030303030UL;
            // Byte k holds digit k (most significant first); combine pairs, then quads, then the two halves.
            chunk = chunk * 10 + (chunk >> 8);
            chunk = ((chunk & 0x000000FF000000FFUL) * (100 + (1000000UL << 32))
                     + ((chunk >> 16) & 0x000000FF000000FFUL) * (1 + (10000UL << 32))) >> 32;
            value = value * 100_000_000 + chunk;
        }
        for (; i < digits.Length; i++)
        {
            uint digit = (uint)(digits[i] - '0');
            if (digit > 9) return false;
            value = value * 10 + digit;
        }
        return true;
    }
}
