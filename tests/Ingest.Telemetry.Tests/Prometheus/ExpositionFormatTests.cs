using System.Diagnostics.Metrics;
using static Ingest.Telemetry.Tests.Prometheus.Exposition;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>What each instrument type becomes in the text format, through the bridge and prometheus-net's serializer.</summary>
public class ExpositionFormatTests
{
    [Fact]
    public void Counter_WithTwoLabelSets_WritesOneFamilyAndTheSelfMetric()
    {
        using var f = new BridgeFixture();
        var points = f.Meter.CreateCounter<long>("ingest.points", "{point}", "Points accepted.");
        points.Add(3, Tag("sink", "redis"));
        points.Add(4, Tag("sink", "influx"));
        points.Add(5, Tag("sink", "redis"));

        Assert.Equal(
            NoDrops + Lines(
                "# HELP ingest_points_total Points accepted.",
                "# TYPE ingest_points_total counter",
                "ingest_points_total{sink=\"redis\"} 8",
                "ingest_points_total{sink=\"influx\"} 4"),
            f.Scrape());
    }

    [Fact]
    public void Counter_IgnoresNegativeIncrements()
    {
        using var f = new BridgeFixture();
        var c = f.Meter.CreateCounter<int>("ingest.odd", null, "Odd.");
        c.Add(2);
        c.Add(-1);

        Assert.Contains("\ningest_odd_total 2\n", f.ScrapeInstruments());
    }

    [Fact]
    public void Gauge_WritesLastValue_AndUnitOneBecomesRatio()
    {
        using var f = new BridgeFixture();
        var fill = f.Meter.CreateGauge<double>("ingest.batch.fill", "1", "Fill level of the current batch.");
        fill.Record(0.25);
        fill.Record(0.5);

        Assert.Equal(
            Lines(
                "# HELP ingest_batch_fill_ratio Fill level of the current batch.",
                "# TYPE ingest_batch_fill_ratio gauge",
                "ingest_batch_fill_ratio 0.5"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void UpDownCounter_WritesSumOfDeltasAsGauge()
    {
        using var f = new BridgeFixture();
        var active = f.Meter.CreateUpDownCounter<int>("ingest.connections.active", "{connection}", "Open connections.");
        active.Add(5);
        active.Add(-2);

        Assert.Equal(
            Lines(
                "# HELP ingest_connections_active Open connections.",
                "# TYPE ingest_connections_active gauge",
                "ingest_connections_active 3"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void ObservableGauge_IsObservedAtScrape()
    {
        using var f = new BridgeFixture();
        int depth = 17;
        f.Meter.CreateObservableGauge("ingest.queue.depth", () => new Measurement<int>(depth, Tag("queue", "main")),
            "{batch}", "Batches waiting to be forwarded.");

        Assert.Equal(
            Lines(
                "# HELP ingest_queue_depth Batches waiting to be forwarded.",
                "# TYPE ingest_queue_depth gauge",
                "ingest_queue_depth{queue=\"main\"} 17"),
            f.ScrapeInstruments());
        depth = 3;
        Assert.Contains("ingest_queue_depth{queue=\"main\"} 3\n", f.ScrapeInstruments());
    }

    [Fact]
    public void ObservableCounter_ReportsCumulativeValue_NotASumOfObservations()
    {
        using var f = new BridgeFixture();
        long total = 10;
        f.Meter.CreateObservableCounter("ingest.reads", () => total, "{read}", "Reads.");
        f.Scrape();
        total = 12;

        Assert.Contains("\ningest_reads_total 12\n", f.ScrapeInstruments());
    }

    [Fact]
    public void ObservableCounter_ThatFalls_IsReportedAsAReset()
    {
        using var f = new BridgeFixture();
        long total = 10;
        f.Meter.CreateObservableCounter("ingest.threads", () => total, "{thread}", "Threads.");
        Assert.Contains("\ningest_threads_total 10\n", f.Scrape());
        total = 4;

        Assert.Contains("\ningest_threads_total 4\n", f.ScrapeInstruments());
    }

    [Fact]
    public void ObservableSeries_NotReportedInTheLatestCallback_IsOmitted()
    {
        using var f = new BridgeFixture();
        bool both = true;
        f.Meter.CreateObservableGauge("ingest.lag", () => both
            ? [new Measurement<int>(1, Tag("p", "a")), new Measurement<int>(2, Tag("p", "b"))]
            : new[] { new Measurement<int>(3, Tag("p", "b")) }, "{point}", "Lag.");
        Assert.Contains("ingest_lag{p=\"a\"} 1\n", f.Scrape());
        both = false;
        Assert.Equal(Lines("# HELP ingest_lag Lag.", "# TYPE ingest_lag gauge", "ingest_lag{p=\"b\"} 3"), f.ScrapeInstruments());
        both = true;

        Assert.Contains("ingest_lag{p=\"a\"} 1\n", f.ScrapeInstruments());
    }

    [Fact]
    public void Histogram_WithBucketAdvice_WritesSumCountAndCumulativeBuckets()
    {
        using var f = new BridgeFixture();
        var flush = f.Meter.CreateHistogram("ingest.flush.duration", "s", "Flush duration.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 1] });
        foreach (var v in new[] { 0.125, 0.5, 0.5, 0.75, 3 }) flush.Record(v, Tag("sink", "influx"));

        Assert.Equal(
            Lines(
                "# HELP ingest_flush_duration_seconds Flush duration.",
                "# TYPE ingest_flush_duration_seconds histogram",
                "ingest_flush_duration_seconds_sum{sink=\"influx\"} 4.875",
                "ingest_flush_duration_seconds_count{sink=\"influx\"} 5",
                "ingest_flush_duration_seconds_bucket{sink=\"influx\",le=\"0.25\"} 1",
                "ingest_flush_duration_seconds_bucket{sink=\"influx\",le=\"0.5\"} 3",
                "ingest_flush_duration_seconds_bucket{sink=\"influx\",le=\"1\"} 4",
                "ingest_flush_duration_seconds_bucket{sink=\"influx\",le=\"+Inf\"} 5"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void Histogram_IgnoresNaN_SoSumStaysANumber()
    {
        using var f = new BridgeFixture();
        var h = f.Meter.CreateHistogram("ingest.hist", "s", "H.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });
        h.Record(double.NaN);
        h.Record(0.5);

        Assert.Equal(
            Lines(
                "# HELP ingest_hist_seconds H.",
                "# TYPE ingest_hist_seconds histogram",
                "ingest_hist_seconds_sum 0.5",
                "ingest_hist_seconds_count 1",
                "ingest_hist_seconds_bucket{le=\"1\"} 1",
                "ingest_hist_seconds_bucket{le=\"+Inf\"} 1"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void Histogram_InMilliseconds_ConvertsBoundsAndSumToSeconds()
    {
        using var f = new BridgeFixture();
        var wait = f.Meter.CreateHistogram("ingest.wait", "ms", "Wait.", tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [5, 10, 100] });
        wait.Record(5);
        wait.Record(50);
        wait.Record(500);

        Assert.Equal(
            Lines(
                "# HELP ingest_wait_seconds Wait.",
                "# TYPE ingest_wait_seconds histogram",
                "ingest_wait_seconds_sum 0.555",
                "ingest_wait_seconds_count 3",
                "ingest_wait_seconds_bucket{le=\"0.005\"} 1",
                "ingest_wait_seconds_bucket{le=\"0.01\"} 1",
                "ingest_wait_seconds_bucket{le=\"0.1\"} 2",
                "ingest_wait_seconds_bucket{le=\"+Inf\"} 3"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void Histogram_WithoutAdvice_UsesDefaultSecondBuckets_EvenForMilliseconds()
    {
        using var f = new BridgeFixture();
        var h = f.Meter.CreateHistogram<int>("ingest.encode.time", "ms");
        h.Record(7);
        string text = f.ScrapeInstruments();

        Assert.Contains("ingest_encode_time_seconds_bucket{le=\"0.005\"} 0\n", text);
        Assert.Contains("ingest_encode_time_seconds_bucket{le=\"0.01\"} 1\n", text);
        Assert.Contains("ingest_encode_time_seconds_bucket{le=\"10\"} 1\n", text);
        Assert.Contains("ingest_encode_time_seconds_sum 0.007\n", text);
        Assert.Contains("# HELP ingest_encode_time_seconds Instrument ingest.encode.time (unit ms) of meter ", text);
    }

    [Fact]
    public void LabelValuesAndHelp_AreEscaped_AndQuotesInHelpBecomeApostrophes()
    {
        using var f = new BridgeFixture();
        var bytes = f.Meter.CreateCounter<long>("ingest.read", "By",
            "Bytes read from C:\\data\\in.lp.\nSecond line; quotes \" stay.");
        bytes.Add(1, Tag("path", "C:\\DIR\\FILE.TXT"), Tag("error", "Cannot find file:\n\"FILE.TXT\""));

        Assert.Equal(
            Lines(
                "# HELP ingest_read_bytes_total Bytes read from C:\\\\data\\\\in.lp.\\nSecond line; quotes ' stay.",
                "# TYPE ingest_read_bytes_total counter",
                "ingest_read_bytes_total{error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\",path=\"C:\\\\DIR\\\\FILE.TXT\"} 1"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void UnitConversions_ScaleValuesToBaseUnits()
    {
        using var f = new BridgeFixture();
        f.Meter.CreateCounter<double>("ingest.wait", "ms", "Wait.").Add(1500);
        f.Meter.CreateUpDownCounter<long>("ingest.buffer", "KiBy", "Buffer.").Add(2);
        f.Meter.CreateCounter<long>("ingest.cpu", "us", "Cpu.").Add(250);
        f.Meter.CreateGauge<int>("ingest.uptime", "min", "Uptime.").Record(2);
        f.Meter.CreateGauge<int>("ingest.poll_interval_ms", null, "Poll.").Record(250);
        string text = f.ScrapeInstruments();

        Assert.Contains("# TYPE ingest_wait_seconds_total counter\ningest_wait_seconds_total 1.5\n", text);
        Assert.Contains("# TYPE ingest_buffer_bytes gauge\ningest_buffer_bytes 2048\n", text);
        Assert.Contains("# TYPE ingest_cpu_seconds_total counter\ningest_cpu_seconds_total 0.00025\n", text);
        Assert.Contains("# TYPE ingest_uptime_seconds gauge\ningest_uptime_seconds 120\n", text);
        Assert.Contains("# TYPE ingest_poll_interval_seconds gauge\ningest_poll_interval_seconds 0.25\n", text);
    }

    [Fact]
    public void AllNumericTypes_AreRecorded()
    {
        using var f = new BridgeFixture();
        f.Meter.CreateCounter<byte>("t.byte", null, "B.").Add(1);
        f.Meter.CreateCounter<short>("t.short", null, "S.").Add(2);
        f.Meter.CreateCounter<int>("t.int", null, "I.").Add(3);
        f.Meter.CreateCounter<long>("t.long", null, "L.").Add(4);
        f.Meter.CreateCounter<float>("t.float", null, "F.").Add(0.5f);
        f.Meter.CreateCounter<double>("t.double", null, "D.").Add(0.25);
        f.Meter.CreateCounter<decimal>("t.decimal", null, "M.").Add(1.5m);
        string text = f.ScrapeInstruments();

        Assert.Contains("\nt_byte_total 1\n", text);
        Assert.Contains("\nt_short_total 2\n", text);
        Assert.Contains("\nt_int_total 3\n", text);
        Assert.Contains("\nt_long_total 4\n", text);
        Assert.Contains("\nt_float_total 0.5\n", text);
        Assert.Contains("\nt_double_total 0.25\n", text);
        Assert.Contains("\nt_decimal_total 1.5\n", text);
    }

    [Fact]
    public void SameTagsInAnotherOrder_AreOneSeries()
    {
        using var f = new BridgeFixture();
        var c = f.Meter.CreateCounter<int>("ingest.writes", null, "Writes.");
        c.Add(1, Tag("b", "2"), Tag("a", "1"));
        c.Add(1, Tag("a", "1"), Tag("b", "2"));
        c.Add(1, Tag("a", 1), Tag("b", 2L));

        Assert.Equal(
            Lines("# HELP ingest_writes_total Writes.", "# TYPE ingest_writes_total counter", "ingest_writes_total{a=\"1\",b=\"2\"} 3"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void LabelNames_AreSanitised_AndCollisionsNumbered_AndDifferentKeySetsShareTheFamily()
    {
        using var f = new BridgeFixture();
        var g = f.Meter.CreateGauge<int>("ingest.lbl", null, "Labels.");
        g.Record(1, Tag("http.request.method", "GET"), Tag("__name__", "x"), Tag("le", "1"), Tag("userId", "u"));
        g.Record(2, Tag("a.b", "1"), Tag("a_b", "2"), Tag("quantile", "q"), Tag("1st", true));
        string text = f.ScrapeInstruments();

        Assert.Single(text.Split('\n'), l => l == "# TYPE ingest_lbl gauge");
        Assert.Contains("\ningest_lbl{name=\"x\",http_request_method=\"GET\",tag_le=\"1\",user_id=\"u\"} 1\n", text);
        Assert.Contains("\ningest_lbl{_1st=\"true\",a_b=\"1\",a_b_2=\"2\",tag_quantile=\"q\"} 2\n", text);
        Assert.Empty(ExpositionChecker.Check(text));
    }

    [Fact]
    public void NothingRecorded_OnlyTheSelfMetric()
    {
        using var f = new BridgeFixture();
        f.Meter.CreateCounter<long>("ingest.idle", null, "Idle.");

        Assert.Equal(NoDrops, f.Scrape());
    }

    [Fact]
    public void DisposedMeter_IsNoLongerExported()
    {
        using var f = new BridgeFixture();
        using (var other = new Meter(f.Meter.Name))
        {
            other.CreateCounter<int>("ingest.temp", null, "Temp.").Add(1);
            Assert.Contains("ingest_temp_total 1", f.Scrape());
        }
        Assert.DoesNotContain("\ningest_temp_total ", f.Scrape());
    }
}
