using Ingest.Telemetry.Prometheus.Naming;
using static Ingest.Telemetry.Tests.Prometheus.Exposition;

namespace Ingest.Telemetry.Tests.Prometheus;

public class NamingTests
{
    [Theory]
    // Sanitising: separators collapse, camelCase splits, colons go, leading digit gets "_".
    [InlineData("ingest.points", "{point}", "Counter", "ingest_points_total")]
    [InlineData("ab..cd--ef", null, "Gauge", "ab_cd_ef")]
    [InlineData("ingest:rate", null, "Gauge", "ingest_rate")]
    [InlineData("writeLatency", "s", "Gauge", "write_latency_seconds")]
    [InlineData("HTTPRequests", null, "Counter", "http_requests_total")]
    [InlineData("9lives", null, "Gauge", "_9lives")]
    [InlineData("counter", null, "Counter", "value_total")]
    // Unit suffixes, not doubled.
    [InlineData("http.server.request.duration", "s", "Histogram", "http_server_request_duration_seconds")]
    [InlineData("latency_seconds", "s", "Histogram", "latency_seconds")]
    [InlineData("latency.ms", "ms", "Histogram", "latency_seconds")]
    [InlineData("latency.milliseconds", "ms", "Gauge", "latency_seconds")]
    [InlineData("dotnet.gc.heap.total_allocated", "By", "Counter", "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("throughput", "By/s", "Gauge", "throughput_bytes_per_second")]
    [InlineData("requests", "{request}/s", "Gauge", "requests_per_second")]
    [InlineData("temp", "Cel", "Gauge", "temp_celsius")]
    [InlineData("cpu.utilization", "1", "Gauge", "cpu_utilization_ratio")]
    // _total exactly once on counters.
    [InlineData("requests.total", null, "Counter", "requests_total")]
    [InlineData("requests_total_total", null, "Counter", "requests_total")]
    [InlineData("sent.total", "By", "Counter", "sent_bytes_total")]
    // Reserved suffixes on non-counters get "_value".
    [InlineData("dotnet.timer.count", "{timer}", "Gauge", "dotnet_timer_count_value")]
    [InlineData("queue.sum", null, "Gauge", "queue_sum_value")]
    [InlineData("x.bucket", null, "Gauge", "x_bucket_value")]
    [InlineData("items.total", null, "Gauge", "items_total_value")]
    [InlineData("batch.total", "s", "Histogram", "batch_total_seconds")]
    [InlineData("jobs.count", null, "Histogram", "jobs_count_value")]
    [InlineData("dotnet.thread_pool.thread.count", "{thread}", "Counter", "dotnet_thread_pool_thread_count_total")]
    // Type words are dropped.
    [InlineData("batch.counter", null, "Counter", "batch_total")]
    [InlineData("queue_gauge", null, "Gauge", "queue")]
    [InlineData("request.histogram.time", "s", "Histogram", "request_time_seconds")]
    [InlineData("summary.gauge_histogram.x", null, "Gauge", "x")]
    // Unit words in the name: a trailing unambiguous one is the unit when none is declared; others are dropped.
    [InlineData("latency_ms", null, "Gauge", "latency_seconds")]
    [InlineData("cache.size_kilobytes", null, "Gauge", "cache_size_bytes")]
    [InlineData("uptime.minutes", null, "Counter", "uptime_seconds_total")]
    [InlineData("size.b", null, "Gauge", "size_bytes")]
    [InlineData("span.m", null, "Gauge", "span")]
    [InlineData("power.millivolts", null, "Gauge", "power")]
    [InlineData("gc_ms_pause", "s", "Counter", "gc_pause_seconds_total")]
    [InlineData("read.kb.rate", null, "Gauge", "read_rate")]
    [InlineData("size.kilobytes.gauge", null, "Gauge", "size_bytes")]
    public void MetricName_FollowsTheDocumentedRules(string name, string? unit, string type, string expected)
    {
        var t = Enum.Parse<PrometheusType>(type);
        Assert.Equal(expected, MetricNaming.Create(name, unit, t, isOtelGauge: t == PrometheusType.Gauge).Name);
    }

    [Fact]
    public void UnitOne_AddsRatioOnlyForOtelGauges()
    {
        Assert.Equal("in_flight", MetricNaming.Create("in.flight", "1", PrometheusType.Gauge, isOtelGauge: false).Name);
    }

    [Theory]
    [InlineData("x", "ms", 1, 1000)]
    [InlineData("x", "us", 1, 1e6)]
    [InlineData("x", "ns", 1, 1e9)]
    [InlineData("x", "min", 60, 1)]
    [InlineData("x", "KiBy", 1024, 1)]
    [InlineData("x_ms", null, 1, 1000)]
    [InlineData("x_minutes", null, 60, 1)]
    [InlineData("x", "s", 1, 1)]
    public void UnitScale_ConvertsToBaseUnit(string name, string? unit, double multiplier, double divisor)
    {
        Assert.Equal(new UnitScale(multiplier, divisor), MetricNaming.Create(name, unit, PrometheusType.Gauge, true).Scale);
    }

    [Theory]
    [InlineData("http.request.method", "http_request_method")]
    [InlineData("__name__", "name")]
    [InlineData("__x", "x")]
    [InlineData("le", "tag_le")]
    [InlineData("quantile", "tag_quantile")]
    [InlineData("1st", "_1st")]
    [InlineData("userId", "user_id")]
    [InlineData("", "tag")]
    public void LabelName_IsSanitised(string key, string expected)
    {
        Assert.Equal(expected, LabelNaming.Sanitize(key));
    }

    [Fact]
    public void NameCollisions_TheFirstInstrumentKeepsTheName_LaterOnesAreNumbered()
    {
        using var f = new BridgeFixture();
        f.Meter.CreateHistogram<int>("ingest.jobs", null, "Histogram jobs.").Record(1);
        f.Meter.CreateGauge<int>("ingest.jobs", null, "Gauge jobs.").Record(2);
        f.Meter.CreateCounter<int>("ingest.jobs.total", null, "Counter jobs b.").Add(3);
        f.Meter.CreateCounter<int>("ingest.jobs", null, "Counter jobs a.").Add(4);
        string text = f.ScrapeInstruments();

        Assert.Contains("# HELP ingest_jobs Histogram jobs.\n# TYPE ingest_jobs histogram\n", text);
        Assert.Contains("# HELP ingest_jobs_2 Gauge jobs.\n# TYPE ingest_jobs_2 gauge\ningest_jobs_2 2\n", text);
        // A counter also holds its OpenMetrics family name (without _total): ingest_jobs and ingest_jobs_2 are taken.
        Assert.Contains("# HELP ingest_jobs_3_total Counter jobs b.\n# TYPE ingest_jobs_3_total counter\ningest_jobs_3_total 3\n", text);
        Assert.Contains("# HELP ingest_jobs_4_total Counter jobs a.\n# TYPE ingest_jobs_4_total counter\ningest_jobs_4_total 4\n", text);
        Assert.Empty(ExpositionChecker.Check(text));
        var open = OpenMetricsParser.Parse(f.ScrapeOpenMetrics());
        Assert.True(open.ExitCode == 0, open.Stderr);
    }
}
