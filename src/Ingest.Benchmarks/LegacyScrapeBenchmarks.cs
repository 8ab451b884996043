using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Ingest.Telemetry.Prometheus;

namespace Ingest.Benchmarks;

/// <summary>The hand-written exporter at commit d345837 on the same shapes as <see cref="ScrapeBenchmarks"/>.</summary>
[MemoryDiagnoser]
public class LegacyScrapeBenchmarks
{
    [Params("counter", "histogram", "observable-gauge")]
    public string Shape { get; set; } = "counter";

    private Meter _meter = null!;
    private PrometheusExporter _exporter = null!;

    [GlobalSetup]
    public void Setup()
    {
        _meter = new Meter("Ingest.Benchmarks.LegacyScrape." + Shape);
        var options = new PrometheusExporterOptions { MaxSeriesPerInstrument = ScrapeBenchmarks.LabelSets };
        options.MeterNames.Add(_meter.Name);
        _exporter = new PrometheusExporter(options);
        ScrapeBenchmarks.Record(_meter, Shape);
        Legacy().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _exporter.Dispose();
        _meter.Dispose();
    }

    [Benchmark]
    public Task Legacy() => _exporter.WriteAsync(Stream.Null);
}
