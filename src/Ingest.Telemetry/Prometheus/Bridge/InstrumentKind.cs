using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Bridge;

/// <summary>How a measurement changes its series.</summary>
internal enum Recording
{
    /// <summary>The measurement is an increment (counters, up-down counters).</summary>
    Add,

    /// <summary>The measurement is the current value (gauges and every observable instrument).</summary>
    Set,

    /// <summary>The measurement is one observation (histograms).</summary>
    Observe,
}

/// <summary>How one System.Diagnostics.Metrics instrument type is exposed.</summary>
internal readonly record struct InstrumentKind(PrometheusType Type, Recording Recording, bool IsObservable, bool IsOtelGauge)
{
    public static bool TryClassify(Instrument instrument, out InstrumentKind kind)
    {
        kind = default;
        var type = instrument.GetType();
        if (!type.IsGenericType) return false;
        var definition = type.GetGenericTypeDefinition();
        if (definition == typeof(Counter<>)) kind = new(PrometheusType.Counter, Recording.Add, false, false);
        else if (definition == typeof(UpDownCounter<>)) kind = new(PrometheusType.Gauge, Recording.Add, false, false);
        else if (definition == typeof(Gauge<>)) kind = new(PrometheusType.Gauge, Recording.Set, false, true);
        else if (definition == typeof(Histogram<>)) kind = new(PrometheusType.Histogram, Recording.Observe, false, false);
        // Observable counters report the running total, so the last observation is the cumulative value.
        else if (definition == typeof(ObservableCounter<>)) kind = new(PrometheusType.Counter, Recording.Set, true, false);
        else if (definition == typeof(ObservableUpDownCounter<>)) kind = new(PrometheusType.Gauge, Recording.Set, true, false);
        else if (definition == typeof(ObservableGauge<>)) kind = new(PrometheusType.Gauge, Recording.Set, true, true);
        else return false;
        return true;
    }
}
