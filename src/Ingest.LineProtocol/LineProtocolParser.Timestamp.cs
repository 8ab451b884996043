namespace Ingest.LineProtocol;

public sealed partial class LineProtocolParser
{
    /// <summary>
    /// The optional timestamp after the field set: a signed decimal integer in units of the request precision,
    /// converted to nanoseconds and held to InfluxDB's range. Only spaces may follow it.
    /// </summary>
    /// <remarks>
    /// When the text is already the canonical nanosecond form (no leading zeros, ns precision: the usual
    /// Telegraf case), its position is returned in <paramref name="canonicalText"/> so that it is copied rather
    /// than formatted again.
    /// </remarks>
    private static Fault ScanTimestamp(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int fieldsEnd, in LineContext context,
        out long timestamp, out Range canonicalText)
    {
        timestamp = context.DefaultTimestamp;
        canonicalText = default;
        if (fieldsEnd >= line.Length) return Fault.None;
        int start = Syntax.SkipWhitespace(line, fieldsEnd + 1);
        if (start >= line.Length) return Fault.None;

        int end = start;
        while (true)
        {
            end = scanner.Next(end);
            if (end < 0) { end = line.Length; break; }
            if (line[end] == (byte)' ') break;
            end++;
        }
        var token = line.Slice(start, end - start);

        bool negative = token[0] == (byte)'-';
        var digits = negative ? token.Slice(1) : token;
        if (digits.IsEmpty) return new Fault(LineFault.BadTimestamp);
        ulong magnitude;
        if (digits.Length <= 19)
        {
            if (!Syntax.TryParseShortDigits(digits, out magnitude)) return new Fault(LineFault.BadTimestamp);
        }
        else
        {
            // Longer only with leading zeros, or out of range.
            if (digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0) return new Fault(LineFault.BadTimestamp);
            if (!Syntax.TryParseMagnitude(digits, out magnitude)) return new Fault(LineFault.BadTimestamp, start, token.Length);
        }
        if (magnitude > (negative ? 9223372036854775808UL : long.MaxValue))
            return new Fault(LineFault.BadTimestamp, start, token.Length);

        long units = negative ? (long)(0UL - magnitude) : (long)magnitude;
        // Bounding the unit count first keeps the multiplication from overflowing.
        long limit = long.MaxValue / context.NanosPerUnit;
        if (units > limit || units < -limit) return new Fault(LineFault.TimestampOutOfRange);
        long nanos = units * context.NanosPerUnit;
        if (nanos < Syntax.MinNanoTime || nanos > Syntax.MaxNanoTime) return new Fault(LineFault.TimestampOutOfRange);

        if (end < line.Length && line.Slice(end).IndexOfAnyExcept((byte)' ') >= 0)
            return new Fault(LineFault.TrailingDataAfterTimestamp);
        timestamp = nanos;
        if (context.NanosPerUnit == 1 && (digits[0] != (byte)'0' || (digits.Length == 1 && !negative)))
            canonicalText = new Range(start, end);
        return Fault.None;
    }
}
