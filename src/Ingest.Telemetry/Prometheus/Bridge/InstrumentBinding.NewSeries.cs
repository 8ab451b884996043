using System.Runtime.CompilerServices;
using Ingest.Telemetry.Prometheus.Naming;
using Prometheus;

namespace Ingest.Telemetry.Prometheus.Bridge;

internal sealed partial class InstrumentBinding
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Series AddSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_gate)
        {
            if (_lookup.TryGetValue(tags, out var existing)) return existing;
            var labels = LabelSet.From(tags);
            if (!_byLabels.TryGetValue(labels.Key, out var series))
            {
                if (_byLabels.Count >= _maxSeries) return Reject(tags, labels.Key);
                series = CreateSeries(labels);
                _byLabels.Add(labels.Key, series);
            }
            if (_byTags.Count < _tagKeyLimit) Remember(tags, series);
            return series;
        }
    }

    /// <summary>
    /// Counts each rejected label set once while it can be remembered (max(limit, 1024) sets per instrument);
    /// beyond that every rejected measurement counts, an over-count that keeps memory bounded.
    /// </summary>
    private Series Reject(ReadOnlySpan<KeyValuePair<string, object?>> tags, string labelsKey)
    {
        if (_droppedLabels.Count < _droppedMemoLimit)
        {
            if (_droppedLabels.Add(labelsKey)) _droppedSeries.Inc();
            if (_byTags.Count < _tagKeyLimit) Remember(tags, Series.Dropped);
        }
        else
        {
            _droppedSeries.Inc();
        }
        return Series.Dropped;
    }

    private void Remember(ReadOnlySpan<KeyValuePair<string, object?>> tags, Series series)
    {
        var key = new TagKey(tags) { Series = series };
        _byTags.TryAdd(key, series);
    }

    private Series CreateSeries(LabelSet labels)
    {
        var collector = CollectorFor(labels.Names);
        return (Kind.Type, Kind.Recording) switch
        {
            (PrometheusType.Counter, Recording.Add) => new CounterSeries((Counter)collector, labels.Values),
            (PrometheusType.Counter, _) => new ObservedCounterSeries((Counter)collector, labels.Values),
            (PrometheusType.Gauge, Recording.Add) => new GaugeSeries((Gauge)collector, labels.Values, add: true),
            (PrometheusType.Gauge, _) => new GaugeSeries((Gauge)collector, labels.Values, add: false),
            _ => new HistogramSeries((Histogram)collector, labels.Values),
        };
    }

    /// <summary>
    /// One prometheus-net metric per set of label names: an instrument may be recorded with different tag keys,
    /// and prometheus-net writes all metrics of one name as one family. Initial values are suppressed so that a
    /// series appears only once something was recorded for it.
    /// </summary>
    private Collector CollectorFor(string[] labelNames)
    {
        string key = string.Join('\n', labelNames);
        if (_collectors.TryGetValue(key, out var existing)) return existing;
        Collector collector = Kind.Type switch
        {
            PrometheusType.Counter => _factory.CreateCounter(Name.Name, _help, labelNames, new CounterConfiguration
            {
                SuppressInitialValue = true,
                ExemplarBehavior = Exemplars(),
            }),
            PrometheusType.Gauge => _factory.CreateGauge(Name.Name, _help, labelNames, new GaugeConfiguration { SuppressInitialValue = true }),
            _ => _factory.CreateHistogram(Name.Name, _help, labelNames, new HistogramConfiguration
            {
                SuppressInitialValue = true,
                Buckets = Buckets,
                ExemplarBehavior = Exemplars(),
            }),
        };
        _collectors.Add(key, collector);
        return collector;
    }

    /// <summary>
    /// Recorded counters and histograms carry the current trace (trace_id, span_id of <c>Activity.Current</c>) as
    /// their OpenMetrics exemplar, so a latency bucket leads to a request's trace. Observable instruments run
    /// inside the scrape's own request, whose trace says nothing about the value: none for them.
    /// </summary>
    private ExemplarBehavior Exemplars() =>
        Kind.IsObservable ? ExemplarBehavior.NoExemplars() : new ExemplarBehavior { DefaultExemplarProvider = (_, _) => Exemplar.FromTraceContext() };
}
