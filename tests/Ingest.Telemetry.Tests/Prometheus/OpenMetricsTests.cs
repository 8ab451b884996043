using System.Diagnostics;
using System.Diagnostics.Metrics;
using static Ingest.Telemetry.Tests.Prometheus.Exposition;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>The OpenMetrics form of the same registry: family names, <c># EOF</c> and exemplars.</summary>
public class OpenMetricsTests
{
    [Fact]
    public void Counter_FamilyDropsTotal_SampleKeepsIt_AndTheTextEndsWithEof()
    {
        using var f = new BridgeFixture();
        f.Meter.CreateCounter<long>("ingest.points", "{point}", "Points.").Add(3, Tag("sink", "influx"));
        string text = f.ScrapeOpenMetrics();

        Assert.Contains("# HELP ingest_points Points.\n# TYPE ingest_points counter\ningest_points_total{sink=\"influx\"} 3.0\n", text);
        Assert.EndsWith("\n# EOF\n", text);
        Assert.Equal(0, OpenMetricsParser.Parse(text).ExitCode);
    }

    [Fact]
    public void HistogramRecordedInsideAnActivity_CarriesItsTraceAsExemplar()
    {
        using var f = new BridgeFixture();
        var h = f.Meter.CreateHistogram("ingest.write.time", "s", "Write time.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1] });
        using var source = new ActivitySource("Ingest.Tests.Exemplars");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
        };
        ActivitySource.AddActivityListener(listener);
        string traceId;
        using (var activity = source.StartActivity("write")!)
        {
            traceId = activity.TraceId.ToString();
            h.Record(0.05);
        }
        string text = f.ScrapeOpenMetrics();

        Assert.Contains($"ingest_write_time_seconds_bucket{{le=\"0.1\"}} 1 # {{trace_id=\"{traceId}\",span_id=\"", text);
        var parsed = OpenMetricsParser.Parse(text);
        Assert.True(parsed.ExitCode == 0, parsed.Stderr + "\n" + text);
        Assert.True(parsed.Stdout.Contains("histogram ingest_write_time_seconds ingest_write_time_seconds_bucket [('le', '0.1')] 1 True", StringComparison.Ordinal),
            parsed.Stdout);
        // The text format has no exemplars.
        Assert.DoesNotContain("trace_id", f.Scrape());
    }
}
