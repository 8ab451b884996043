namespace Ingest.Telemetry.Prometheus.Naming;

internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

internal static class PrometheusTypeExtensions
{
    public static string Keyword(this PrometheusType type) => type switch
    {
        PrometheusType.Counter => "counter",
        PrometheusType.Gauge => "gauge",
        _ => "histogram",
    };
}
