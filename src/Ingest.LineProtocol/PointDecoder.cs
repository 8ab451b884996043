using System.Globalization;

namespace Ingest.LineProtocol;

/// <summary>Turns line protocol into <see cref="DecodedPoint"/>s (unescaped, managed). Allocates; not for the hot path.</summary>
public static class PointDecoder
{
    private static readonly LineProtocolParser DefaultParser = new();

    /// <summary>Decodes point <paramref name="index"/> of <paramref name="batch"/>.</summary>
    public static DecodedPoint Decode(PointBatch batch, int index) => DecodeCanonical(batch.Line(index));

    /// <summary>Decodes every point of <paramref name="batch"/>, in order.</summary>
    public static List<DecodedPoint> DecodeAll(PointBatch batch)
    {
        var points = new List<DecodedPoint>(batch.Count);
        for (int i = 0; i < batch.Count; i++) points.Add(Decode(batch, i));
        return points;
    }

    /// <summary>
    /// Decodes a canonical line (as the parser writes it: one space between the parts, a nanosecond timestamp;
    /// the trailing LF is optional).
    /// </summary>
    public static DecodedPoint DecodeCanonical(ReadOnlySpan<byte> line)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\n') line = line.Slice(0, line.Length - 1);
        if (line.IsEmpty) ThrowHelper.ThrowMalformed("empty line");

        int seriesEnd = Syntax.IndexOfUnescaped(line, 1, Syntax.MeasurementStops);
        while (seriesEnd >= 0 && line[seriesEnd] != (byte)' ')
            seriesEnd = Syntax.IndexOfUnescaped(line, seriesEnd + 1, Syntax.MeasurementStops);
        if (seriesEnd < 0) ThrowHelper.ThrowMalformed("no field set");

        var series = line.Slice(0, seriesEnd);
        int measurementEnd = Syntax.IndexOfUnescaped(series, 1, Syntax.MeasurementStops);
        if (measurementEnd < 0) measurementEnd = series.Length;
        string measurement = Escaping.Unescape(series.Slice(0, measurementEnd), EscapeKind.Measurement);

        var tags = new List<DecodedTag>();
        int i = measurementEnd;
        while (i < series.Length)
        {
            int keyStart = i + 1;
            int eq = Syntax.IndexOfUnescaped(series, keyStart + 1, Syntax.TagStops);
            if (eq < 0 || series[eq] != (byte)'=') ThrowHelper.ThrowMalformed("tag without '='");
            int valueEnd = Syntax.IndexOfUnescaped(series, eq + 2, Syntax.TagStops);
            if (valueEnd < 0) valueEnd = series.Length;
            tags.Add(new DecodedTag(
                Escaping.Unescape(series.Slice(keyStart, eq - keyStart), EscapeKind.Key),
                Escaping.Unescape(series.Slice(eq + 1, valueEnd - eq - 1), EscapeKind.Key)));
            i = valueEnd;
        }

        var rest = line.Slice(seriesEnd + 1);
        var fields = new List<DecodedField>();
        var enumerator = new FieldEnumerator(rest);
        while (enumerator.MoveNext())
            fields.Add(new DecodedField(enumerator.Current.KeyString(), enumerator.Current.ToFieldValue()));

        long timestamp = 0;
        int fieldsEnd = enumerator.CurrentValueEnd;
        if (fieldsEnd < rest.Length)
        {
            if (!long.TryParse(rest.Slice(fieldsEnd).Trim((byte)' '), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out timestamp))
                ThrowHelper.ThrowMalformed("bad timestamp");
        }
        return new DecodedPoint(measurement, tags, fields, timestamp);
    }

    /// <summary>
    /// Parses and decodes one line in any valid form (escapes, unsorted tags, any precision). On failure,
    /// <paramref name="error"/> holds InfluxDB's reason. Only the first point of a multi-line input is returned.
    /// </summary>
    public static bool TryParseLine(ReadOnlySpan<byte> line, Precision precision, long nowNanoseconds,
        out DecodedPoint? point, out LineError? error, LineProtocolParser? parser = null)
    {
        var batch = PointBatch.Rent();
        try
        {
            var summary = (parser ?? DefaultParser).Parse(line, precision, nowNanoseconds, batch);
            error = summary.FirstError;
            point = batch.Count > 0 ? Decode(batch, 0) : null;
            return point is not null && error is null;
        }
        finally
        {
            PointBatch.Return(batch);
        }
    }
}
