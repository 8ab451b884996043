using System.Runtime.CompilerServices;

namespace Ingest.Telemetry.Prometheus.Aggregation;

internal sealed partial class InstrumentState
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Series AddSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_gate)
        {
            if (_lookup.TryGetValue(tags, out var existing)) return existing;
            string labels = LabelEncoder.Encode(tags);
            if (!_byLabels.TryGetValue(labels, out var series))
            {
                if (_byLabels.Count >= _maxSeries) return Reject(tags, labels);
                series = CreateSeries(labels);
                _byLabels.Add(labels, series);
                Publish(series);
            }
            if (_byTags.Count < _tagKeyLimit) Remember(tags, series);
            return series;
        }
    }

    /// <summary>
    /// Counts each rejected label set once while it can be remembered (max(limit, 1024) sets per instrument);
    /// beyond that every rejected measurement counts, an over-count that keeps memory bounded.
    /// </summary>
    private Series Reject(ReadOnlySpan<KeyValuePair<string, object?>> tags, string labels)
    {
        if (_droppedLabels.Count < _droppedMemoLimit)
        {
            if (_droppedLabels.Add(labels)) Interlocked.Increment(ref _counters.SeriesDropped);
            if (_byTags.Count < _tagKeyLimit) Remember(tags, DroppedSeries.Instance);
        }
        else
        {
            Interlocked.Increment(ref _counters.SeriesDropped);
        }
        return DroppedSeries.Instance;
    }

    private void Remember(ReadOnlySpan<KeyValuePair<string, object?>> tags, Series series)
    {
        var key = new TagKey(tags) { Series = series };
        _byTags.TryAdd(key, series);
    }

    private Series CreateSeries(string labels) => Kind.Aggregation switch
    {
        AggregationKind.Sum => new SumSeries(labels),
        AggregationKind.LastValue => new LastValueSeries(labels),
        _ => new HistogramSeries(labels, RawBounds),
    };

    private void Publish(Series series)
    {
        var current = _ordered;
        int index = Array.BinarySearch(current, series, SeriesOrder.Instance);
        if (index < 0) index = ~index;
        var next = new Series[current.Length + 1];
        Array.Copy(current, next, index);
        next[index] = series;
        Array.Copy(current, index, next, index + 1, current.Length - index);
        Volatile.Write(ref _ordered, next);
    }

    private sealed class SeriesOrder : IComparer<Series>
    {
        public static readonly SeriesOrder Instance = new();

        public int Compare(Series? x, Series? y) => string.CompareOrdinal(x!.EncodedLabels, y!.EncodedLabels);
    }
}
