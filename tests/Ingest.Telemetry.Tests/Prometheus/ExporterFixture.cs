using System.Buffers;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text;
using Ingest.Telemetry.Prometheus;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>A private meter with a unique name and an exporter that listens to it alone.</summary>
internal sealed class ExporterFixture : IDisposable
{
    private static int _counter;

    public ExporterFixture(int maxSeriesPerInstrument = PrometheusExporterOptions.DefaultMaxSeriesPerInstrument,
        [CallerMemberName] string test = "")
    {
        Meter = new Meter($"Ingest.Tests.{test}.{Interlocked.Increment(ref _counter)}");
        var options = new PrometheusExporterOptions { MaxSeriesPerInstrument = maxSeriesPerInstrument };
        options.MeterNames.Add(Meter.Name);
        Exporter = new PrometheusExporter(options);
    }

    public Meter Meter { get; }

    public PrometheusExporter Exporter { get; }

    public string Scrape() => Exposition.Render(Exporter);

    /// <summary>The exposition without the exporter's own always-present family, for fixtures about one instrument.</summary>
    public string ScrapeInstruments() => Exposition.WithoutSelfMetrics(Scrape());

    public void Dispose()
    {
        Exporter.Dispose();
        Meter.Dispose();
    }
}

internal static class Exposition
{
    public const string NoDrops =
        "# HELP ingest_telemetry_series_dropped_total Label sets not tracked because an instrument reached the exporter's per-instrument series limit.\n" +
        "# TYPE ingest_telemetry_series_dropped_total counter\n" +
        "ingest_telemetry_series_dropped_total 0\n";

    public static string Render(PrometheusExporter exporter)
    {
        var buffer = new ArrayBufferWriter<byte>();
        exporter.Write(buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
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
