using System.Buffers;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// Writes alert events as line protocol, for Grafana annotations: measurement <see cref="Measurement"/>; tags
/// <c>rule</c>, <c>level</c>, <c>measurement</c> (the series') and the series' own tags; fields <c>value</c>
/// (left out when not finite), <c>previous</c> and <c>message</c>; the event time as timestamp.
/// </summary>
/// <remarks>
/// Lines are canonical (tags sorted by escaped key, as the parser would), so the batch can go straight to a
/// sink. A series tag named <c>rule</c>, <c>level</c> or <c>measurement</c> is written as <c>series_rule</c>,
/// etc.: the alert's own tags keep their meaning. Allocates per event; events are rare.
/// </remarks>
public sealed class AlertLineWriter
{
    public const string DefaultMeasurement = "alerts";

    public AlertLineWriter(string measurement = DefaultMeasurement)
    {
        ArgumentException.ThrowIfNullOrEmpty(measurement);
        Measurement = measurement;
    }

    public string Measurement { get; }

    /// <summary>Appends one line for <paramref name="alert"/> to <paramref name="batch"/>.</summary>
    public void Write(AlertEvent alert, PointBatch batch)
    {
        ArgumentNullException.ThrowIfNull(alert);
        ArgumentNullException.ThrowIfNull(batch);
        var tags = SortedTags(alert);
        int offset = batch.ByteLength;
        try
        {
            LineProtocolWriter.WriteMeasurement(batch, Measurement);
            foreach (var (key, value) in tags)
            {
                LineProtocolWriter.WriteByte(batch, (byte)',');
                LineProtocolWriter.WriteRaw(batch, key);
                LineProtocolWriter.WriteByte(batch, (byte)'=');
                LineProtocolWriter.WriteTagValue(batch, value);
            }
            int seriesKeyLength = batch.ByteLength - offset;
            LineProtocolWriter.WriteByte(batch, (byte)' ');
            int fieldsStart = batch.ByteLength;
            if (double.IsFinite(alert.Value))
            {
                LineProtocolWriter.WriteRaw(batch, "value="u8);
                LineProtocolWriter.WriteFloat(batch, alert.Value);
                LineProtocolWriter.WriteByte(batch, (byte)',');
            }
            LineProtocolWriter.WriteRaw(batch, "previous="u8);
            LineProtocolWriter.WriteStringValue(batch, AlertLevelNames.Lower(alert.Previous));
            LineProtocolWriter.WriteRaw(batch, ",message="u8);
            LineProtocolWriter.WriteStringValue(batch, alert.Message);
            int fieldsLength = batch.ByteLength - fieldsStart;
            LineProtocolWriter.WriteByte(batch, (byte)' ');
            LineProtocolWriter.WriteTimestamp(batch, alert.Timestamp);
            LineProtocolWriter.WriteByte(batch, (byte)'\n');

            ulong hash = SeriesKeyHash.Compute(batch.Data.Slice(offset, seriesKeyLength));
            batch.AddPoint(new PointRef(offset, batch.ByteLength - offset, seriesKeyLength, fieldsLength, alert.Timestamp, hash));
        }
        catch
        {
            // A tag the protocol cannot carry must not leave half a line behind.
            batch.Truncate(offset);
            throw;
        }
    }

    private static List<(byte[] Key, string Value)> SortedTags(AlertEvent alert)
    {
        var tags = new List<(byte[] Key, string Value)>(alert.Tags.Count + 3)
        {
            (EscapedKey("rule"), alert.Rule),
            (EscapedKey("level"), AlertLevelNames.Lower(alert.Level)),
            (EscapedKey("measurement"), alert.Measurement),
        };
        foreach (var tag in alert.Tags)
        {
            string key = tag.Key is "rule" or "level" or "measurement" ? "series_" + tag.Key : tag.Key;
            tags.Add((EscapedKey(key), tag.Value));
        }
        tags.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        return tags;
    }

    private static byte[] EscapedKey(string key)
    {
        var buffer = new ArrayBufferWriter<byte>(key.Length + 8);
        LineProtocolWriter.WriteTagKey(buffer, key);
        return buffer.WrittenSpan.ToArray();
    }
}
