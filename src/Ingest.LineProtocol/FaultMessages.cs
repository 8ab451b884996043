using System.Text;

namespace Ingest.LineProtocol;

/// <summary>
/// Turns a <see cref="Fault"/> into a <see cref="LineError"/> in InfluxDB's wording, so that clients see the
/// messages they already know. Runs only for reported errors, so it may allocate.
/// </summary>
internal static class FaultMessages
{
    public static LineError ToLineError(int lineNumber, ReadOnlySpan<byte> line, Fault fault, int maxQuotedBytes)
        => new(lineNumber, Quote(line, maxQuotedBytes), Reason(line, fault));

    public static string Reason(ReadOnlySpan<byte> line, Fault fault)
    {
        // The bytes of a bad sequence are shown in hex: as text they would only be replacement characters.
        if (fault.Kind == LineFault.InvalidUtf8) return InvalidUtf8(line, fault);
        string detail = Encoding.UTF8.GetString(line.Slice(fault.Start, fault.Length));
        return fault.Kind switch
        {
            LineFault.MissingMeasurement => "missing measurement",
            LineFault.MissingFields => "missing fields",
            LineFault.MissingTagKey => "missing tag key",
            LineFault.MissingTagValue => "missing tag value",
            LineFault.InvalidTagFormat => "invalid tag format",
            LineFault.DuplicateTags => "duplicate tags",
            LineFault.ReservedTagKey => $"cannot use reserved tag key \"{detail}\"",
            LineFault.MaxKeyLengthExceeded => $"max key length exceeded: {Syntax.MaxKeyLength}",
            LineFault.MissingFieldKey => "missing field key",
            LineFault.MissingFieldValue => "missing field value",
            LineFault.InvalidFieldFormat => "invalid field format",
            LineFault.UnbalancedQuotes => "unbalanced quotes",
            LineFault.InvalidNumber => "invalid number",
            LineFault.InvalidFloat => "invalid float",
            LineFault.IntegerOutOfRange => $"unable to parse integer {detail}: value out of range",
            LineFault.UnsignedOutOfRange => $"unable to parse unsigned {detail}: value out of range",
            LineFault.UnsignedTooLargeForInteger =>
                $"unsigned value {detail} is above the int64 range and cannot be sent as an integer",
            LineFault.InvalidBoolean => "invalid boolean",
            LineFault.BadTimestamp => fault.Length > 0 ? "bad timestamp: value out of range" : "bad timestamp",
            LineFault.TimestampOutOfRange =>
                $"time outside range {Syntax.MinNanoTime} - {Syntax.MaxNanoTime}",
            LineFault.TrailingDataAfterTimestamp => "point is invalid",
            LineFault.TimeIsOnlyField =>
                $"invalid field name: input field \"time\" on measurement \"{MeasurementOf(line)}\" is invalid",
            _ => fault.Kind.ToString(),
        };
    }

    private static string InvalidUtf8(ReadOnlySpan<byte> line, Fault fault)
    {
        var bytes = line.Slice(fault.Start, fault.Length);
        var hex = new StringBuilder();
        foreach (byte b in bytes) hex.Append(hex.Length == 0 ? "" : " ").Append("0x").Append(b.ToString("X2"));
        return $"invalid UTF-8: {hex} at byte {fault.Start + 1}";
    }

    private static string MeasurementOf(ReadOnlySpan<byte> line)
    {
        int end = Syntax.IndexOfUnescaped(line, 1, Syntax.MeasurementStops);
        return Escaping.Unescape(end < 0 ? line : line.Slice(0, end), EscapeKind.Measurement);
    }

    /// <summary>The line as text, cut to <paramref name="maxBytes"/> without splitting a UTF-8 sequence.</summary>
    public static string Quote(ReadOnlySpan<byte> line, int maxBytes)
    {
        if (line.Length > maxBytes)
        {
            int cut = Math.Max(maxBytes, 0);
            while (cut > 0 && (line[cut] & 0xC0) == 0x80) cut--;
            line = line.Slice(0, cut);
        }
        return Encoding.UTF8.GetString(line);
    }
}
