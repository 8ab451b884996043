using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Ingest.Telemetry.Prometheus;
using Prometheus;

namespace Ingest.Benchmarks;

/// <summary>
/// One scrape of <c>/metrics</c> at <see cref="LabelSets"/> label sets, rendered to a null stream: the
/// prometheus-net registry fed by <see cref="MeterBridge"/> in both of its formats. Each scrape runs the
/// observable callbacks, as the endpoint does. Shapes: one counter with two tags; one histogram with the
/// default 14 buckets (17 lines a label set); an observable gauge reporting every label set each scrape.
/// </summary>
[MemoryDiagnoser]
public class ScrapeBenchmarks
{
    public const int LabelSets = 10_000;

    [Params("counter", "histogram", "observable-gauge")]
    public string Shape { get; set; } = "counter";

    private Meter _meter = null!;
    private MeterBridge _bridge = null!;

    [GlobalSetup]
    public void Setup()
    {
        _meter = new Meter("Ingest.Benchmarks.Scrape." + Shape);
        var options = new MeterBridgeOptions { MaxSeriesPerInstrument = LabelSets };
        options.MeterNames.Add(_meter.Name);
        _bridge = new MeterBridge(options, Metrics.NewCustomRegistry());
        Record(_meter, Shape);
        Bridge();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bridge.Dispose();
        _meter.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task Bridge() => _bridge.Registry.CollectAndExportAsTextAsync(Stream.Null, ExpositionFormat.PrometheusText);

    [Benchmark]
    public Task BridgeOpenMetrics() => _bridge.Registry.CollectAndExportAsTextAsync(Stream.Null, ExpositionFormat.OpenMetricsText);

    /// <summary>The same label sets on any exporter listening to <paramref name="meter"/>.</summary>
    public static void Record(Meter meter, string shape)
    {
        var sinks = new[] { "influx", "redis", "alerts", "raw" };
        var ids = Enumerable.Range(0, LabelSets).Select(i => $"series-{i:D5}").ToArray();
        KeyValuePair<string, object?>[] Tags(int i) => [new("sink", sinks[i % sinks.Length]), new("id", ids[i])];
        switch (shape)
        {
            case "counter":
                var counter = meter.CreateCounter<long>("ingest.bench.points", "{point}", "Points.");
                for (int i = 0; i < LabelSets; i++) counter.Add(i + 1, Tags(i));
                break;
            case "histogram":
                var histogram = meter.CreateHistogram<double>("ingest.bench.duration", "s", "Duration.");
                for (int i = 0; i < LabelSets; i++) histogram.Record(i % 100 / 10.0, Tags(i));
                break;
            default:
                var all = Enumerable.Range(0, LabelSets).Select(i => new Measurement<long>(i, Tags(i))).ToArray();
                meter.CreateObservableGauge("ingest.bench.depth", () => all, "{point}", "Depth.");
                break;
        }
    }
}
