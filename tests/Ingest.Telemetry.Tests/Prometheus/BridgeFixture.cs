using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text;
using Ingest.Telemetry.Prometheus;
using Prometheus;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>A private meter with a unique name and a bridge into a fresh registry that listens to it alone.</summary>
internal sealed class BridgeFixture : IDisposable
{
    private static int _counter;

    public BridgeFixture(int maxSeriesPerInstrument = MeterBridgeOptions.DefaultMaxSeriesPerInstrument,
        [CallerMemberName] string test = "")
    {
        Meter = new Meter($"Ingest.Tests.{test}.{Interlocked.Increment(ref _counter)}");
        var options = new MeterBridgeOptions { MaxSeriesPerInstrument = maxSeriesPerInstrument };
        options.MeterNames.Add(Meter.Name);
        Bridge = new MeterBridge(options, Metrics.NewCustomRegistry());
    }

    public Meter Meter { get; }

    public MeterBridge Bridge { get; }

    /// <summary>Text format 0.0.4, as served without an Accept header.</summary>
    public string Scrape() => Exposition.Render(Bridge.Registry, ExpositionFormat.PrometheusText);

    public string ScrapeOpenMetrics() => Exposition.Render(Bridge.Registry, ExpositionFormat.OpenMetricsText);

    /// <summary>The exposition without the bridge's own always-present family, for fixtures about one instrument.</summary>
    public string ScrapeInstruments() => Exposition.WithoutSelfMetrics(Scrape());

    public void Dispose()
    {
        Bridge.Dispose();
        Meter.Dispose();
    }
}

internal static class Exposition
{
    public const string NoDrops =
        "# HELP ingest_telemetry_series_dropped_total Label sets not tracked because an instrument reached the per-instrument series limit.\n" +
        "# TYPE ingest_telemetry_series_dropped_total counter\n" +
        "ingest_telemetry_series_dropped_total 0\n";

    public static string Render(CollectorRegistry registry, ExpositionFormat format)
    {
        using var stream = new MemoryStream();
        registry.CollectAndExportAsTextAsync(stream, format).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static string Lines(params string[] lines) => string.Concat(lines.Select(l => l + "\n"));

    public static string WithoutSelfMetrics(string text) =>
        Lines(text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("ingest_telemetry_", StringComparison.Ordinal)
                && !l.StartsWith("# HELP ingest_telemetry_", StringComparison.Ordinal)
                && !l.StartsWith("# TYPE ingest_telemetry_", StringComparison.Ordinal))
            .ToArray());

    public static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);
}
