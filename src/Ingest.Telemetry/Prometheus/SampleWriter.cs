using Ingest.Telemetry.Prometheus.Aggregation;
using Ingest.Telemetry.Prometheus.Naming;
using Ingest.Telemetry.Prometheus.Text;

namespace Ingest.Telemetry.Prometheus;

/// <summary>Writes the sample lines of one family from the instrument's series snapshot.</summary>
internal static class SampleWriter
{
    public static void WriteFamily(ExpositionWriter writer, FamilyPlan family, int epoch)
    {
        var state = family.State!;
        bool headerWritten = false;
        foreach (var series in state.Snapshot())
        {
            // An observable series that the latest callbacks did not report no longer exists.
            if (state.Kind.IsObservable && series.Epoch != epoch) continue;
            if (!headerWritten)
            {
                writer.Write(family.Header);
                headerWritten = true;
            }
            switch (series)
            {
                case SumSeries sum:
                    WriteScalar(writer, family, series, sum.LongPart, sum.DoublePart, state.Name.Scale);
                    break;
                case LastValueSeries last:
                    WriteScalar(writer, family, series, last.LongPart, last.DoublePart, state.Name.Scale);
                    break;
                case HistogramSeries histogram:
                    WriteHistogram(writer, family, histogram, state.Name.Scale);
                    break;
            }
        }
    }

    private static void WriteScalar(ExpositionWriter writer, FamilyPlan family, Series series, long longPart, double doublePart, UnitScale scale)
    {
        writer.Write(family.SampleName);
        WriteLabels(writer, series);
        writer.Write((byte)' ');
        WriteValue(writer, longPart, doublePart, scale);
        writer.Write((byte)'\n');
    }

    private static void WriteHistogram(ExpositionWriter writer, FamilyPlan family, HistogramSeries series, UnitScale scale)
    {
        var labels = series.EncodedLabelBytes;
        long cumulative = 0;
        for (int i = 0; i < family.LeLabels.Length; i++)
        {
            cumulative += series.BucketCount(i);
            writer.Write(family.BucketName);
            if (labels.Length > 0)
            {
                writer.Write(labels);
                writer.Write((byte)',');
            }
            writer.Write(family.LeLabels[i]);
            writer.Write((byte)' ');
            writer.WriteLong(cumulative);
            writer.Write((byte)'\n');
        }

        writer.Write(family.SumName);
        WriteLabels(writer, series);
        writer.Write((byte)' ');
        WriteValue(writer, series.SumLongPart, series.SumDoublePart, scale);
        writer.Write((byte)'\n');

        // _count comes from the same bucket snapshot, so it always equals the +Inf bucket.
        writer.Write(family.CountName);
        WriteLabels(writer, series);
        writer.Write((byte)' ');
        writer.WriteLong(cumulative);
        writer.Write((byte)'\n');
    }

    private static void WriteLabels(ExpositionWriter writer, Series series)
    {
        var labels = series.EncodedLabelBytes;
        if (labels.Length == 0) return;
        writer.Write((byte)'{');
        writer.Write(labels);
        writer.Write((byte)'}');
    }

    /// <summary>Integer instruments stay exact as a long unless a unit conversion makes them fractional.</summary>
    private static void WriteValue(ExpositionWriter writer, long longPart, double doublePart, UnitScale scale)
    {
        if (scale.IsIdentity && doublePart == 0) writer.WriteLong(longPart);
        else writer.WriteDouble(scale.Apply(longPart + doublePart));
    }
}
