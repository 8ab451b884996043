using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Aggregation;

internal enum AggregationKind
{
    Sum,
    LastValue,
    Histogram,
}

/// <summary>How one System.Diagnostics.Metrics instrument type is aggregated and exposed.</summary>
internal readonly record struct InstrumentKind(PrometheusType Type, AggregationKind Aggregation, bool IsObservable, bool IsOtelGauge)
{
    public static bool TryClassify(Instrument instrument, out InstrumentKind kind)
    {
        kind = default;
        var type = instrument.GetType();
        if (!type.IsGenericType) return false;
        var definition = type.GetGenericTypeDefinition();
        if (definition == typeof(Counter<>)) kind = new(PrometheusType.Counter, AggregationKind.Sum, false, false);
        else if (definition == typeof(UpDownCounter<>)) kind = new(PrometheusType.Gauge, AggregationKind.Sum, false, false);
        else if (definition == typeof(Gauge<>)) kind = new(PrometheusType.Gauge, AggregationKind.LastValue, false, true);
        else if (definition == typeof(Histogram<>)) kind = new(PrometheusType.Histogram, AggregationKind.Histogram, false, false);
        // Observable counters report the running total, so the last observation is the cumulative value.
        else if (definition == typeof(ObservableCounter<>)) kind = new(PrometheusType.Counter, AggregationKind.LastValue, true, false);
        else if (definition == typeof(ObservableUpDownCounter<>)) kind = new(PrometheusType.Gauge, AggregationKind.LastValue, true, false);
        else if (definition == typeof(ObservableGauge<>)) kind = new(PrometheusType.Gauge, AggregationKind.LastValue, true, true);
        else return false;
        return true;
    }
}
