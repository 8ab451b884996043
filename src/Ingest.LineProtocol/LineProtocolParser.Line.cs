using System.Globalization;
using System.Runtime.CompilerServices;

namespace Ingest.LineProtocol;

public sealed partial class LineProtocolParser
{
    /// <summary>
    /// Parses one line (leading blanks already skipped, no LF) and, if it is good, appends its canonical form
    /// to <paramref name="batch"/>. Nothing is committed to the batch unless the whole line is good.
    /// </summary>
    private static Fault ParseLine(ReadOnlySpan<byte> line, in LineContext context, Span<TagSpan> tags, PointBatch batch)
    {
        var scanner = new StructuralScanner(line);
        var fault = ScanSeriesKey(line, ref scanner, tags, out int measurementEnd, out int seriesEnd, out int tagCount, out bool sorted);
        if (!fault.IsNone) return fault;

        fault = ScanFields(line, ref scanner, seriesEnd + 1, in context, out int fieldsStart, out int fieldsEnd, out bool hasUnsigned);
        if (!fault.IsNone) return fault;

        fault = ScanTimestamp(line, ref scanner, fieldsEnd, in context, out long timestamp, out Range timestampText);
        if (!fault.IsNone) return fault;

        if (!sorted)
        {
            SortTags(line, tags.Slice(0, tagCount));
            for (int t = 1; t < tagCount; t++)
            {
                if (KeyOf(line, tags[t - 1]).SequenceEqual(KeyOf(line, tags[t])))
                    return new Fault(LineFault.DuplicateTags);
            }
        }

        WriteCanonical(line, measurementEnd, seriesEnd, tags.Slice(0, tagCount), sorted,
            fieldsStart, fieldsEnd, hasUnsigned && context.UnsignedAsInteger, timestamp, line[timestampText], batch);
        return Fault.None;
    }

    /// <summary>
    /// Measurement and tags, up to the first unescaped space. Records each tag so that an unsorted key can be
    /// rebuilt; duplicates among already-sorted tags are caught here, the rest after sorting.
    /// </summary>
    private static Fault ScanSeriesKey(ReadOnlySpan<byte> line, ref StructuralScanner scanner, Span<TagSpan> tags,
        out int measurementEnd, out int seriesEnd, out int tagCount, out bool sorted)
    {
        measurementEnd = seriesEnd = tagCount = 0;
        sorted = true;
        if (line[0] == (byte)',') return new Fault(LineFault.MissingMeasurement);

        // The first byte of a measurement is never a separator, so the search starts after it.
        int i = NextSeriesStop(line, ref scanner, 1, stopAtEquals: false);
        if (i < 0) return new Fault(LineFault.MissingFields);
        measurementEnd = i;

        int previousKeyStart = 0, previousKeyLength = 0;
        while (line[i] == (byte)',')
        {
            int keyStart = i + 1;
            if (keyStart >= line.Length) return new Fault(LineFault.MissingTagKey);
            byte first = line[keyStart];
            if (first is (byte)' ' or (byte)',' or (byte)'=') return new Fault(LineFault.MissingTagKey);

            int eq = NextSeriesStop(line, ref scanner, keyStart + 1, stopAtEquals: true);
            if (eq < 0 || line[eq] != (byte)'=') return new Fault(LineFault.MissingTagValue);
            int keyLength = eq - keyStart;

            int valueStart = eq + 1;
            if (valueStart >= line.Length || line[valueStart] is (byte)',' or (byte)' ')
                return new Fault(LineFault.MissingTagValue);
            // As in InfluxDB, the first byte of a value is taken literally even if it is '='.
            int valueEnd = NextSeriesStop(line, ref scanner, valueStart + 1, stopAtEquals: true);
            if (valueEnd < 0) return new Fault(LineFault.MissingFields);
            if (line[valueEnd] == (byte)'=') return new Fault(LineFault.InvalidTagFormat);

            if (IsReservedTagKey(line.Slice(keyStart, keyLength)))
                return new Fault(LineFault.ReservedTagKey, keyStart, keyLength);

            if (tagCount > 0 && sorted)
            {
                int order = line.Slice(keyStart, keyLength).SequenceCompareTo(line.Slice(previousKeyStart, previousKeyLength));
                if (order == 0) return new Fault(LineFault.DuplicateTags);
                if (order < 0) sorted = false;
            }
            if (tagCount == tags.Length) return new Fault(LineFault.NeedMoreTagSpace);
            tags[tagCount++] = new TagSpan { KeyStart = keyStart, KeyLength = keyLength, End = valueEnd };
            previousKeyStart = keyStart;
            previousKeyLength = keyLength;
            i = valueEnd;
        }

        seriesEnd = i;
        if (seriesEnd > Syntax.MaxKeyLength) return new Fault(LineFault.MaxKeyLengthExceeded);
        return Fault.None;
    }

    /// <summary>Next ' ' or ',' (and '=' if asked) not preceded by a backslash; <paramref name="from"/> is at least 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NextSeriesStop(ReadOnlySpan<byte> line, ref StructuralScanner scanner, int from, bool stopAtEquals)
    {
        while (true)
        {
            int j = scanner.Next(from);
            if (j < 0) return -1;
            byte b = line[j];
            if ((b == (byte)' ' || b == (byte)',' || (stopAtEquals && b == (byte)'=')) && line[j - 1] != (byte)'\\') return j;
            from = j + 1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsReservedTagKey(ReadOnlySpan<byte> key) => key.Length switch
    {
        4 => key.SequenceEqual("time"u8),
        6 => key.SequenceEqual("_field"u8),
        12 => key.SequenceEqual("_measurement"u8),
        _ => false,
    };

    private static ReadOnlySpan<byte> KeyOf(ReadOnlySpan<byte> line, in TagSpan tag) => line.Slice(tag.KeyStart, tag.KeyLength);

    /// <summary>Insertion sort: tag counts are small and the input is usually nearly sorted.</summary>
    private static void SortTags(ReadOnlySpan<byte> line, Span<TagSpan> tags)
    {
        for (int i = 1; i < tags.Length; i++)
        {
            var current = tags[i];
            var key = KeyOf(line, current);
            int j = i - 1;
            while (j >= 0 && KeyOf(line, tags[j]).SequenceCompareTo(key) > 0)
            {
                tags[j + 1] = tags[j];
                j--;
            }
            tags[j + 1] = current;
        }
    }

    private static void WriteCanonical(ReadOnlySpan<byte> line, int measurementEnd, int seriesEnd, ReadOnlySpan<TagSpan> tags,
        bool sorted, int fieldsStart, int fieldsEnd, bool unsignedAsInteger, long timestamp, ReadOnlySpan<byte> timestampText,
        PointBatch batch)
    {
        int fieldsLength = fieldsEnd - fieldsStart;
        // Series key and fields keep their length; the timestamp takes at most 20 bytes; plus two spaces and LF.
        var destination = batch.GetSpan(seriesEnd + fieldsLength + 23);

        if (sorted)
        {
            line.Slice(0, seriesEnd).CopyTo(destination);
        }
        else
        {
            line.Slice(0, measurementEnd).CopyTo(destination);
            int k = measurementEnd;
            foreach (ref readonly var tag in tags)
            {
                destination[k++] = (byte)',';
                var text = line.Slice(tag.KeyStart, tag.End - tag.KeyStart);
                text.CopyTo(destination.Slice(k));
                k += text.Length;
            }
        }

        int n = seriesEnd;
        destination[n++] = (byte)' ';
        var fields = destination.Slice(n, fieldsLength);
        line.Slice(fieldsStart, fieldsLength).CopyTo(fields);
        if (unsignedAsInteger) RewriteUnsignedAsInteger(fields);
        n += fieldsLength;
        destination[n++] = (byte)' ';
        if (timestampText.IsEmpty)
        {
            timestamp.TryFormat(destination.Slice(n), out int written, default, CultureInfo.InvariantCulture);
            n += written;
        }
        else
        {
            timestampText.CopyTo(destination.Slice(n));
            n += timestampText.Length;
        }
        destination[n++] = (byte)'\n';

        ulong hash = SeriesKeyHash.Compute(destination.Slice(0, seriesEnd));
        int offset = batch.ByteLength;
        batch.Advance(n);
        batch.AddPoint(new PointRef(offset, n, seriesEnd, fieldsLength, timestamp, hash));
    }

    /// <summary>
    /// Turns each <c>123u</c> into <c>123i</c> in place (same length, so nothing moves). The field set was
    /// validated and ranges checked while scanning; this walk only needs to tell values from keys and strings.
    /// </summary>
    private static void RewriteUnsignedAsInteger(Span<byte> fields)
    {
        int p = 0;
        while (p < fields.Length)
        {
            int valueStart = Syntax.IndexOfFieldKeyEnd(fields, p) + 1;
            int valueEnd;
            if (fields[valueStart] == (byte)'"')
            {
                valueEnd = Syntax.IndexOfClosingQuote(fields, valueStart + 1) + 1;
            }
            else
            {
                int j = fields.Slice(valueStart).IndexOfAny(Syntax.FieldValueStops);
                valueEnd = j < 0 ? fields.Length : valueStart + j;
                if (fields[valueEnd - 1] == (byte)'u') fields[valueEnd - 1] = (byte)'i';
            }
            p = valueEnd + 1;
        }
    }
}
