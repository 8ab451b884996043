using System.Numerics;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

// The per-point path: everything here runs for every point and must not allocate.
public sealed partial class DownsampleStage
{
    private void Aggregate(PointBatch input, int index, in PointRef point, int database)
    {
        var key = input.SeriesKey(index);
        int measurementLength = Escaping.MeasurementLength(key);
        ulong measurementMask = MeasurementMask(key.Slice(0, measurementLength));
        ulong tiers = measurementMask & _rawTiers;
        if (tiers == 0) return;

        long time = point.Timestamp;
        ulong late = 0;
        for (ulong bits = tiers; bits != 0; bits &= bits - 1)
        {
            int t = BitOperations.TrailingZeroCount(bits);
            var tier = _tiers[t];
            _slots[t] = -1;
            if (!tier.TryWindowStart(time, out _starts[t]))
            {
                tier.PointsOutOfRange++;
                tiers &= ~(1UL << t);
                continue;
            }
            if (tier.IsLate(_starts[t])) late |= 1UL << t;
            if (time > tier.Watermark) tier.Watermark = time;
        }

        int series = -1;
        ulong lateHit = 0, aggregated = 0;
        var fields = new NumericFieldReader(input.Fields(index));
        for (int position = 0; fields.MoveNext(); position++)
        {
            int fieldId = FieldId(fields.Key, position, out ulong fieldMask);
            ulong take = fieldMask & tiers;
            if (take == 0) continue;
            lateHit |= take & late;
            take &= ~late;
            for (; take != 0; take &= take - 1)
            {
                int t = BitOperations.TrailingZeroCount(take);
                var tier = _tiers[t];
                if (_slots[t] < 0)
                {
                    if (series < 0) series = _catalog.InternSeries(key, point.SeriesHash, database, measurementLength, measurementMask);
                    _slots[t] = tier.FindOrAddWindow(series, _starts[t]);
                    aggregated |= 1UL << t;
                }
                tier.Add(_slots[t], fieldId, fields.Value, time);
            }
        }
        for (; lateHit != 0; lateHit &= lateHit - 1) _tiers[BitOperations.TrailingZeroCount(lateHit)].PointsDroppedLate++;
        for (; aggregated != 0; aggregated &= aggregated - 1) _tiers[BitOperations.TrailingZeroCount(aggregated)].PointsAggregated++;
    }

    // Points of one measurement carry the same field keys in the same order, so the key seen at this position
    // last time is compared first: one short comparison instead of hashing and probing the catalog.
    private int FieldId(ReadOnlySpan<byte> key, int position, out ulong mask)
    {
        if (position < _fieldsByPosition.Length)
        {
            int known = _fieldsByPosition[position];
            if (known >= 0 && _catalog.Fields.KeyOf(known).SequenceEqual(key))
            {
                mask = _catalog.FieldMask(known);
                return known;
            }
        }
        int id = _catalog.Field(key, out mask);
        if (position < _fieldsByPosition.Length) _fieldsByPosition[position] = id;
        return id;
    }

    // Points of one measurement usually come together, so the last answer is kept before asking the catalog.
    private ulong MeasurementMask(ReadOnlySpan<byte> measurement)
    {
        if (measurement.Length == _lastMeasurementLength && measurement.SequenceEqual(_lastMeasurement.AsSpan(0, measurement.Length)))
            return _lastMeasurementMask;
        ulong mask = _catalog.MeasurementMask(measurement);
        if (measurement.Length <= _lastMeasurement.Length)
        {
            measurement.CopyTo(_lastMeasurement);
            _lastMeasurementLength = measurement.Length;
            _lastMeasurementMask = mask;
        }
        return mask;
    }
}
