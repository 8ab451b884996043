using System.Buffers;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

/// <summary>A tier's pre-encoded output tokens: the measurement suffix and one field-key suffix per aggregate kept.</summary>
internal sealed class TierOutput
{
    public TierOutput(DownsampleTier settings, Aggregates aggregates)
    {
        var writer = new ArrayBufferWriter<byte>();
        LineProtocolWriter.WriteMeasurement(writer, "_" + settings.Name);
        MeasurementSuffix = writer.WrittenSpan.ToArray();
        RetentionPolicy = settings.RetentionPolicy ?? "";
        var kept = new List<(Aggregates, byte[], double)>();
        foreach (var (flag, name, percentile) in AggregateNames.Ordered)
        {
            if ((aggregates & flag) == 0) continue;
            writer.Clear();
            LineProtocolWriter.WriteFieldKey(writer, "_" + name);
            writer.GetSpan(1)[0] = (byte)'=';
            writer.Advance(1);
            kept.Add((flag, writer.WrittenSpan.ToArray(), percentile));
        }
        Fields = kept.ToArray();
    }

    public byte[] MeasurementSuffix { get; }
    public string RetentionPolicy { get; }

    /// <summary>Aggregate, its <c>_name=</c> token, and its percentile (0 for the others), in output order.</summary>
    public (Aggregates Flag, byte[] Suffix, double Percentile)[] Fields { get; }
}
