namespace Ingest.Telemetry.Prometheus.Naming;

/// <summary>The Prometheus family an instrument maps to, before cross-instrument collisions are resolved.</summary>
internal sealed record MetricName(string Name, PrometheusType Type, UnitScale Scale)
{
    /// <summary>
    /// A second family with the same name gets "_2", "_3"… inserted before "_total" (counters) or appended
    /// (others), so the result still passes the same lint rules.
    /// </summary>
    public string WithOrdinal(int ordinal)
    {
        const string total = "_total";
        return Type == PrometheusType.Counter && Name.EndsWith(total, StringComparison.Ordinal)
            ? $"{Name[..^total.Length]}_{ordinal}{total}"
            : $"{Name}_{ordinal}";
    }
}
