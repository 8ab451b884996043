using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus;
using Prometheus;
using static Ingest.Telemetry.Tests.Prometheus.Exposition;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>
/// Runs the real promtool (Debian package "prometheus") on the text format and the Python Prometheus client's
/// OpenMetrics parser (python3-prometheus-client) on the OpenMetrics form of the same registry.
/// </summary>
public class PromtoolTests
{
    [Fact]
    public void RealisticExposition_WithSystemRuntimeAndAwkwardInstruments_PassesPromtoolTheCheckerAndTheOpenMetricsParser()
    {
        using var meter = new Meter("Ingest.PromtoolTests.Awkward");
        var options = new MeterBridgeOptions();
        options.MeterNames.Add("System.Runtime");
        options.MeterNames.Add("Ingest.PromtoolTests*");
        using var bridge = new MeterBridge(options, Metrics.NewCustomRegistry());
        RecordAwkwardInstruments(meter);
        ExerciseRuntime();

        string text = Render(bridge.Registry, ExpositionFormat.PrometheusText);
        var (exit, _, stderr) = Promtool.CheckMetrics(text);
        Assert.True(exit == 0 && stderr.Length == 0, $"promtool exit {exit}\n{stderr}\n--- exposition ---\n{text}");
        Assert.Empty(ExpositionChecker.Check(text));
        Assert.True(text.Split('\n').Length > 150, text);

        string open = Render(bridge.Registry, ExpositionFormat.OpenMetricsText);
        var parsed = OpenMetricsParser.Parse(open);
        Assert.True(parsed.ExitCode == 0, $"OpenMetrics parser exit {parsed.ExitCode}\n{parsed.Stderr}\n--- exposition ---\n{open}");
        Assert.EndsWith("\n# EOF\n", open);
        Assert.Contains("counter ingest_points_accepted ingest_points_accepted_total ", parsed.Stdout);
        foreach (var family in new[]
        {
            "dotnet_gc_collections_total{", "dotnet_gc_heap_total_allocated_bytes_total ", "dotnet_process_cpu_time_seconds_total{",
            "dotnet_process_memory_working_set_bytes ", "dotnet_thread_pool_work_item_count_total ", "dotnet_timer_count_value ",
            "dotnet_assembly_count_value ", "dotnet_exceptions_total{", "dotnet_gc_pause_time_seconds_total ",
        })
        {
            Assert.Contains("\n" + family, text);
        }
    }

    [Fact]
    public void PromtoolHarness_ReportsLintProblems()
    {
        var (exit, _, stderr) = Promtool.CheckMetrics("# TYPE jobs counter\njobs 1\n");

        Assert.Equal(3, exit);
        Assert.Contains("jobs no help text", stderr);
    }

    [Fact]
    public void OpenMetricsParserHarness_RejectsAMissingEofAndACounterSampleWithoutTotal()
    {
        Assert.Equal(0, OpenMetricsParser.Parse("# TYPE jobs counter\njobs_total 1\n# EOF\n").ExitCode);
        Assert.NotEqual(0, OpenMetricsParser.Parse("# TYPE jobs counter\njobs_total 1\n").ExitCode);
        Assert.NotEqual(0, OpenMetricsParser.Parse("# TYPE jobs counter\njobs 1\n# EOF\n").ExitCode);
    }

    private static void RecordAwkwardInstruments(Meter meter)
    {
        var quoted = Tag("path", "C:\\in\\\"x\".lp\nline2");
        meter.CreateCounter<long>("Ingest.Points.Accepted", "{point}", "Points \"accepted\".\nC:\\x").Add(5, quoted, Tag("sink", "influx"));
        meter.CreateCounter<double>("ingest.sink.wait_ms", "ms", "Wait.").Add(12.5, Tag("le", "0.5"), Tag("quantile", "0.9"));
        meter.CreateCounter<int>("batch.counter").Add(1, Tag("__reserved", "x"), Tag("1abc", 2), Tag("camelCase", true));
        meter.CreateCounter<long>("requests.total.total", "{request}", "").Add(1, Tag("a.b", "1"), Tag("a_b", "2"));
        meter.CreateCounter<decimal>("money:spent", "{EUR}", "Money.").Add(1.25m);
        meter.CreateUpDownCounter<long>("ingest.queue.count", "{batch}", "Queue.").Add(4);
        meter.CreateUpDownCounter<short>("buffer", "KiBy", "Buffer.").Add(3);
        meter.CreateUpDownCounter<byte>("dotnet.fake.count", "{x}").Add(1);
        var ratio = meter.CreateGauge<double>("cpu.utilization", "1", "Cpu.");
        ratio.Record(double.NaN, Tag("case", "nan"));
        ratio.Record(double.PositiveInfinity, Tag("case", "pos"));
        ratio.Record(double.NegativeInfinity, Tag("case", "neg"));
        ratio.Record(1e300, Tag("case", "huge"));
        meter.CreateGauge<float>("temperatureGauge", "Cel", "Temp.").Record(21.5f);
        meter.CreateGauge<int>("jobs_sum", null, "Jobs.").Record(7);
        meter.CreateGauge<long>("latency_ms", null, "Latency.").Record(3);
        meter.CreateGauge<long>("writeLatency_milliseconds", null, "Write latency.").Record(3);
        meter.CreateGauge<long>("size.kilobytes.gauge", null, "Size.").Record(3);
        var duration = meter.CreateHistogram<double>("http.server.request.duration", "s", "Duration.");
        foreach (var v in new[] { 0.001, 0.02, 0.3, 4.0, 50.0, double.NaN })
            duration.Record(v, Tag("http.request.method", "GET"), Tag("le", "x"));
        var flush = meter.CreateHistogram("ingest.flush.latency.ms", "ms", "Flush.", tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 5, 25, 125] });
        for (int i = 0; i < 200; i++) flush.Record(i, Tag("sink", i % 2 == 0 ? "influx" : "redis"));
        var payload = meter.CreateHistogram("payload.size", "By", "Payload.", tags: null,
            advice: new InstrumentAdvice<decimal> { HistogramBucketBoundaries = [100m, 1000m, 10000m] });
        payload.Record(50m);
        payload.Record(5000m);
        meter.CreateHistogram<float>("jobs.total", null, "Jobs hist.").Record(2f);
        meter.CreateObservableCounter("process.uptime.minutes", () => 3L, null, "Uptime.");
        meter.CreateObservableUpDownCounter("ingest.connections.bucket", () => new Measurement<int>(2, Tag("peer", "a")), "{connection}", "Conns.");
        meter.CreateObservableGauge("ingest.lag:seconds", () => 0.5, "s", "Lag.");
        meter.CreateGauge<int>("ingest.collide", null, "Gauge.").Record(1);
        meter.CreateHistogram<int>("ingest.collide", null, "Histogram.").Record(1);
        meter.CreateCounter<int>("ingest.collide", null, "Counter.").Add(1);
        meter.CreateCounter<int>("ingest.collide.total", null, "Counter 2.").Add(1);
    }

    private static void ExerciseRuntime()
    {
        GC.Collect();
        Parallel.For(0, 200, i => Thread.SpinWait(1000));
        Task.WaitAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => Thread.Sleep(1))).ToArray());
        try { throw new InvalidOperationException("exercise dotnet.exceptions"); }
        catch (InvalidOperationException) { }
        using var timer = new Timer(_ => { }, null, 60_000, 60_000);
    }
}
