namespace Ingest.Telemetry.Prometheus.Aggregation;

/// <summary>State shared by the exporter and all of its instruments.</summary>
internal sealed class ExporterCounters
{
    /// <summary>Incremented before each scrape's observable callbacks run.</summary>
    public int Epoch;

    /// <summary>Label sets rejected by the per-instrument limit.</summary>
    public long SeriesDropped;
}
