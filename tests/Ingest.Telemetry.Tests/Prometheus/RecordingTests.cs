using static Ingest.Telemetry.Tests.Prometheus.Exposition;

namespace Ingest.Telemetry.Tests.Prometheus;

public class RecordingTests
{
    [Fact]
    public void ConcurrentRecording_OnCounterAndHistogram_KeepsExactTotals()
    {
        using var f = new BridgeFixture();
        var counter = f.Meter.CreateCounter<long>("ingest.points", null, "Points.");
        var doubles = f.Meter.CreateCounter<double>("ingest.weight", null, "Weight.");
        var histogram = f.Meter.CreateHistogram("ingest.size", "By", "Size.", tags: null,
            advice: new Ingest.Telemetry.Tests.Prometheus.AdviceFor<int>([2, 5]).Advice);
        const int threads = 8, perThread = 50_000;
        using var go = new Barrier(threads);

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var sink = Tag("sink", t % 2 == 0 ? "influx" : "redis");
            go.SignalAndWait();
            for (int i = 0; i < perThread; i++)
            {
                counter.Add(1, sink);
                doubles.Add(0.5, sink);
                histogram.Record(i % 10);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        string text = f.ScrapeInstruments();

        long half = threads / 2 * perThread;
        Assert.Contains($"ingest_points_total{{sink=\"influx\"}} {half}\n", text);
        Assert.Contains($"ingest_points_total{{sink=\"redis\"}} {half}\n", text);
        Assert.Contains($"ingest_weight_total{{sink=\"influx\"}} {half / 2}\n", text);
        long total = threads * perThread;
        // Values 0..9 evenly: 3 of 10 are ≤ 2, 6 of 10 are ≤ 5; the sum is 4.5 per value.
        Assert.Contains($"ingest_size_bytes_bucket{{le=\"2\"}} {total * 3 / 10}\n", text);
        Assert.Contains($"ingest_size_bytes_bucket{{le=\"5\"}} {total * 6 / 10}\n", text);
        Assert.Contains($"ingest_size_bytes_bucket{{le=\"+Inf\"}} {total}\n", text);
        Assert.Contains($"ingest_size_bytes_count {total}\n", text);
        Assert.Contains($"ingest_size_bytes_sum {total * 9 / 2}\n", text);
    }

    /// <summary>
    /// prometheus-net sums the buckets for _count and then reads them again for the bucket lines, so an
    /// observation landing in between can put +Inf one ahead of _count; everything else must hold.
    /// </summary>
    [Fact]
    public async Task ScrapesDuringRecording_StayCumulative_WithInfBucketNeverBelowCount()
    {
        using var f = new BridgeFixture();
        var histogram = f.Meter.CreateHistogram<double>("ingest.latency", "s", "Latency.");
        histogram.Record(1, Tag("sink", "influx"));
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            var rnd = new Random(1);
            while (!stop.IsCancellationRequested) histogram.Record(rnd.NextDouble() * 3, Tag("sink", "influx"));
        });
        try
        {
            for (int i = 0; i < 50; i++)
            {
                string text = f.Scrape();
                Assert.DoesNotContain(ExpositionChecker.Check(text), p => !p.Contains("!= _count", StringComparison.Ordinal));
                long count = long.Parse(Between(text, "ingest_latency_seconds_count{sink=\"influx\"} ", "\n"));
                long inf = long.Parse(Between(text, "ingest_latency_seconds_bucket{sink=\"influx\",le=\"+Inf\"} ", "\n"));
                Assert.True(inf >= count, $"+Inf {inf} < _count {count}");
            }
        }
        finally
        {
            stop.Cancel();
            await writer;
        }
    }

    private static string Between(string text, string before, string after)
    {
        int start = text.IndexOf(before, StringComparison.Ordinal) + before.Length;
        return text[start..text.IndexOf(after, start, StringComparison.Ordinal)];
    }

    [Fact]
    public void EqualTagValuesInDistinctInstances_AreOneSeries()
    {
        using var f = new BridgeFixture();
        var counter = f.Meter.CreateCounter<int>("ingest.requests", null, "Requests.");
        for (int i = 0; i < 100; i++)
        {
            // A fresh string per call defeats the reference cache and exercises the value-equality lookup.
            counter.Add(1, Tag("sink", new string("influx".AsSpan())), Tag("code", i % 2 == 0 ? 200 : 500));
        }

        Assert.Equal(
            Lines(
                "# HELP ingest_requests_total Requests.",
                "# TYPE ingest_requests_total counter",
                "ingest_requests_total{code=\"200\",sink=\"influx\"} 50",
                "ingest_requests_total{code=\"500\",sink=\"influx\"} 50"),
            f.ScrapeInstruments());
    }

    [Fact]
    public void CardinalityLimit_DropsAndCountsNewLabelSets()
    {
        using var f = new BridgeFixture(maxSeriesPerInstrument: 3);
        var counter = f.Meter.CreateCounter<int>("ingest.requests", null, "Requests.");
        for (int round = 0; round < 4; round++)
        {
            for (int i = 0; i < 10; i++) counter.Add(1, Tag("id", i.ToString("D2")));
        }
        string text = f.Scrape();

        Assert.Equal(7, f.Bridge.DroppedSeries);
        Assert.Contains("\ningest_telemetry_series_dropped_total 7\n", text);
        Assert.Contains("ingest_requests_total{id=\"02\"} 4\n", text);
        Assert.DoesNotContain("id=\"03\"", text);
        Assert.Equal(3, text.Split('\n').Count(l => l.StartsWith("ingest_requests_total{", StringComparison.Ordinal)));
    }

    [Fact]
    public void CounterWithKnownThreeTagSet_AllocatesNothingPerMeasurement()
    {
        using var f = new BridgeFixture();
        var counter = f.Meter.CreateCounter<long>("ingest.points", null, "Points.");
        var histogram = f.Meter.CreateHistogram<double>("ingest.latency", "s", "Latency.");
        var a = Tag("sink", "influx");
        var b = Tag("bucket", "telemetry");
        var c = Tag("result", "ok");
        for (int i = 0; i < 1000; i++)
        {
            counter.Add(1, a, b, c);
            histogram.Record(0.01, a, b);
        }

        long allocated = Allocations.Fewest(() =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                counter.Add(1, a, b, c);
                histogram.Record(0.01, a, b);
            }
        }, attempts: 3);

        Assert.Equal(0, allocated);
        Assert.Contains("ingest_points_total{bucket=\"telemetry\",result=\"ok\",sink=\"influx\"} 301000\n", f.Scrape());
    }
}

internal sealed class AdviceFor<T>(T[] bounds) where T : struct
{
    public System.Diagnostics.Metrics.InstrumentAdvice<T> Advice { get; } = new() { HistogramBucketBoundaries = bounds };
}
