using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

internal sealed partial class TierState
{
    /// <summary>
    /// Writes one series window as a canonical line: the input series key with the tier's suffix on the
    /// measurement (tags untouched, so still sorted and escaped), one field per kept aggregate, the window start.
    /// </summary>
    private void Write(int window, OutputBatches output)
    {
        ref var w = ref _windows[window];
        if ((w.Flags & SeriesWindow.SnapshotFlag) != 0) WriteSnapshotWindow(window); // before its flags change
        if (IsQuiet(w.Start))
        {
            WritesSuppressed++;
            return;
        }
        var series = _catalog.Series;
        int database = series.ScopeOf(w.Series);
        var batch = output.For(Index, database, _catalog.DatabaseName(database), Output.RetentionPolicy);
        var key = series.KeyOf(w.Series);
        int measurementLength = _catalog.MeasurementLengthOf(w.Series);

        int offset = batch.ByteLength;
        LineProtocolWriter.WriteRaw(batch, key.Slice(0, measurementLength));
        LineProtocolWriter.WriteRaw(batch, Output.MeasurementSuffix);
        LineProtocolWriter.WriteRaw(batch, key.Slice(measurementLength));
        int seriesKeyLength = batch.ByteLength - offset;
        LineProtocolWriter.WriteByte(batch, (byte)' ');

        int fieldsOffset = batch.ByteLength;
        bool first = true;
        for (int f = w.FirstField; f >= 0; f = _fields[f].Next)
        {
            ref var state = ref _fields[f];
            var fieldKey = _catalog.Fields.KeyOf(state.FieldId);
            foreach (var (flag, suffix, percentile) in Output.Fields)
            {
                double value = flag switch
                {
                    Aggregates.Mean => state.Sum / state.Count,
                    Aggregates.Min => state.Min,
                    Aggregates.Max => state.Max,
                    Aggregates.Sum => state.Sum,
                    Aggregates.First => state.First,
                    Aggregates.Last => state.Last,
                    Aggregates.Count => 0,
                    _ => state.Sketch is null ? double.NaN : state.Percentile(percentile),
                };
                // A float sum can overflow to infinity, which line protocol cannot carry: that field is left out.
                if (flag != Aggregates.Count && !double.IsFinite(value)) continue;
                if (!first) LineProtocolWriter.WriteByte(batch, (byte)',');
                first = false;
                LineProtocolWriter.WriteRaw(batch, fieldKey);
                LineProtocolWriter.WriteRaw(batch, suffix);
                if (flag == Aggregates.Count) LineProtocolWriter.WriteInteger(batch, state.Count);
                else LineProtocolWriter.WriteFloat(batch, value);
            }
        }
        if (first)
        {
            batch.Truncate(offset);
            return;
        }
        int fieldsLength = batch.ByteLength - fieldsOffset;
        LineProtocolWriter.WriteByte(batch, (byte)' ');
        LineProtocolWriter.WriteTimestamp(batch, w.Start);
        LineProtocolWriter.WriteByte(batch, (byte)'\n');
        ulong hash = SeriesKeyHash.Compute(batch.Data.Slice(offset, seriesKeyLength));
        batch.AddPoint(new PointRef(offset, batch.ByteLength - offset, seriesKeyLength, fieldsLength, w.Start, hash));

        if (w.Is(SeriesWindow.EmittedFlag)) WindowsReemitted++;
        else WindowsEmitted++;
        w.Flags |= SeriesWindow.EmittedFlag;
    }
}
