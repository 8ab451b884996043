using System.Globalization;
using System.Text;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class AggregateTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Every_aggregate_equals_a_direct_computation_over_random_out_of_order_points(int seed)
    {
        var random = new Random(seed);
        // Lateness covers the three windows, so shuffled points are all taken.
        var h = new DownsampleHarness(Tier(latenessMinutes: 3, aggregates: "mean,min,max,sum,count,first,last,p50,p90,p95,p99"));
        var expected = new Dictionary<(string Series, long Start), List<(long Time, double Value)>>();
        var body = new StringBuilder();
        for (int i = 0; i < 2_000; i++)
        {
            string host = "h" + random.Next(5);
            // Timestamps over three windows, shuffled; coarse so that equal timestamps happen.
            long time = random.Next(0, 180) * 1_000_000_000L;
            bool integer = random.Next(2) == 0;
            double value = integer ? random.Next(-1000, 1000) : Math.Round((random.NextDouble() - 0.5) * 1e6, 3);
            string text = integer ? ((long)value).ToString(CultureInfo.InvariantCulture) + "i" : value.ToString("R", CultureInfo.InvariantCulture);
            body.Append($"cpu,host={host} v={text} {time}\n");
            var key = (host, time - time % Minutes(1));
            if (!expected.TryGetValue(key, out var list)) expected[key] = list = [];
            list.Add((time, value));
        }
        h.Process(body.ToString());
        h.Flush();
        var lines = LastWritten(h.Lines);

        Assert.Equal(expected.Count, lines.Count);
        foreach (var ((host, start), values) in expected)
        {
            var p = Assert.Single(lines, l => l.Timestamp == start && l.Tags[0].Value == host);
            double sum = 0;
            foreach (var v in values) sum += v.Value; // the same order as arrival, so the float sum is identical
            long firstTime = values.Min(v => v.Time), lastTime = values.Max(v => v.Time);
            Assert.Equal(values.Count, Float(p, "v_count"));
            Assert.Equal(sum, Float(p, "v_sum"));
            Assert.Equal(sum / values.Count, Float(p, "v_mean"));
            Assert.Equal(values.Min(v => v.Value), Float(p, "v_min"));
            Assert.Equal(values.Max(v => v.Value), Float(p, "v_max"));
            Assert.Equal(values.First(v => v.Time == firstTime).Value, Float(p, "v_first"));
            Assert.Equal(values.Last(v => v.Time == lastTime).Value, Float(p, "v_last"));
            var sorted = values.Select(v => v.Value).Order().ToArray();
            foreach (var q in new[] { 50, 90, 95, 99 })
            {
                // InfluxQL's nearest rank; the sketch promises 1 % of that value.
                double truth = sorted[Math.Max(0, (int)(sorted.Length * q / 100.0 + 0.5) - 1)];
                Assert.True(Math.Abs(Float(p, $"v_p{q}") - truth) <= 0.01 * Math.Abs(truth), $"p{q}: {Float(p, $"v_p{q}")} vs {truth}");
            }
        }
    }

    /// <summary>What InfluxDB keeps: the last line written for each series and timestamp.</summary>
    internal static List<Ingest.LineProtocol.DecodedPoint> LastWritten(IEnumerable<string> lines) =>
        lines.Select(Decode).GroupBy(p => (p.Measurement, string.Join(",", p.Tags), p.Timestamp)).Select(g => g.Last()).ToList();

    [Fact]
    public void First_and_last_follow_event_time_not_arrival()
    {
        var h = new DownsampleHarness(Tier(aggregates: "first,last"));
        h.Process(Line("cpu", "v=2", 20) + Line("cpu", "v=3", 30) + Line("cpu", "v=1", 10));
        Assert.Equal(["cpu_1m v_first=1,v_last=3 0"], h.Flush());
    }

    [Fact]
    public void On_equal_timestamps_first_keeps_the_earlier_arrival_and_last_takes_the_later()
    {
        var h = new DownsampleHarness(Tier(aggregates: "first,last"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=2", 10) + Line("cpu", "v=3", 10));
        Assert.Equal(["cpu_1m v_first=1,v_last=3 0"], h.Flush());
    }

    [Fact]
    public void Booleans_and_strings_are_skipped_and_unsigned_values_aggregated()
    {
        var h = new DownsampleHarness(Tier(aggregates: "sum,count"));
        h.Process(Line("cpu", "ok=true,msg=\"x\",n=5u,i=-2i", 10) + Line("cpu", "ok=false,n=7u,i=4i", 20));
        Assert.Equal(["cpu_1m n_sum=12,n_count=2i,i_sum=2,i_count=2i 0"], h.Flush());
    }

    [Fact]
    public void Point_with_only_skipped_fields_opens_no_window()
    {
        var h = new DownsampleHarness(Tier());
        h.Process(Line("cpu", "ok=true,msg=\"x\"", 10));
        Assert.Equal(0, h.Stage.GetStats(0).OpenWindows);
        Assert.Equal(0, h.Stage.GetStats(0).PointsAggregated);
        Assert.Empty(h.Flush());
    }

    [Fact]
    public void Series_in_different_databases_are_kept_apart_and_written_back_to_their_own()
    {
        var h = new DownsampleHarness(Tier(aggregates: "sum") with { RetentionPolicy = "rp_1m" });
        h.Process(Line("cpu", "v=1", 10), database: "a");
        h.Process(Line("cpu", "v=2", 10), database: "b");
        h.Flush();
        Assert.Equal(
            [("a", "rp_1m", "cpu_1m v_sum=1 0"), ("b", "rp_1m", "cpu_1m v_sum=2 0")],
            h.Targets.OrderBy(t => t.Database));
    }
}
