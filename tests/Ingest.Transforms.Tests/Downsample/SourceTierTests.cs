using System.Text;
using Ingest.LineProtocol;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class SourceTierTests
{
    private const string All = "mean,min,max,sum,count,first,last,p50,p90,p95,p99";

    [Theory]
    [InlineData(11, 0)]
    [InlineData(12, 2)]
    [InlineData(13, 5)]
    public void Coarse_tier_merged_from_fine_windows_equals_aggregating_the_points_directly(int seed, double latenessMinutes)
    {
        var random = new Random(seed);
        var merged = new DownsampleHarness(Tier("1m", 1, latenessMinutes, All), Tier("1h", 60, 0, All, source: "1m"));
        var direct = new DownsampleHarness(Tier("1h", 60, latenessMinutes, All));
        // Mostly ordered, some points late by up to the lateness, across three hours and a few series.
        var body = new StringBuilder();
        long time = 0;
        for (int i = 0; i < 20_000; i++)
        {
            time += random.Next(0, 1_000_000_000);
            long late = latenessMinutes > 0 && random.Next(10) == 0 ? random.NextInt64(0, Minutes(latenessMinutes)) : 0;
            double value = Math.Round(random.NextDouble() * 200 - 50, 2);
            body.Append($"cpu,host=h{random.Next(4)} v={value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} {Math.Max(0, time - late)}\n");
            if (i % 500 == 499)
            {
                merged.Process(body.ToString());
                direct.Process(body.ToString());
                body.Clear();
            }
        }
        merged.Flush();
        direct.Flush();

        var coarse = merged.Lines.Select(Decode).Where(p => p.Measurement == "cpu_1h").ToList();
        var expected = AggregateTests.LastWritten(direct.Lines);
        Assert.Equal(0, merged.Stage.GetStats(0).PointsDroppedLate);
        Assert.Equal(expected.Count, coarse.Count);
        foreach (var e in expected)
        {
            var m = Assert.Single(coarse, p => p.Timestamp == e.Timestamp && p.Tags[0].Value == e.Tags[0].Value);
            foreach (var name in new[] { "count", "min", "max", "first", "last" })
                Assert.Equal(Float(e, "v_" + name), Float(m, "v_" + name));
            // Sums of the same values in another grouping may differ in the last bits.
            Assert.Equal(Float(e, "v_sum"), Float(m, "v_sum"), 1e-9 * Math.Abs(Float(e, "v_sum")) + 1e-9);
            Assert.Equal(Float(e, "v_mean"), Float(m, "v_mean"), 1e-9 * Math.Abs(Float(e, "v_mean")) + 1e-9);
            // Merged sketches are the sketch of the union: identical estimates.
            foreach (var p in new[] { "p50", "p90", "p95", "p99" })
                Assert.Equal(Float(e, "v_" + p), Float(m, "v_" + p));
        }
    }

    [Fact]
    public void Coarse_window_is_written_once_after_its_last_fine_window_is_final()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 2, "count"), Tier("10m", 10, 0, "count", source: "1m"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=1", Minutes(9.5)));
        h.Process(Line("cpu", "v=1", Minutes(11)));
        Assert.DoesNotContain(h.Lines, l => l.StartsWith("cpu_10m", StringComparison.Ordinal));
        h.Process(Line("cpu", "v=1", Minutes(9.9))); // late but within the fine tier's lateness
        h.Process(Line("cpu", "v=1", Minutes(12)));  // watermark at 10m + 2m: the coarse window is final
        Assert.Equal(["cpu_10m v_count=3i 0"], h.Lines.Where(l => l.StartsWith("cpu_10m", StringComparison.Ordinal)));
        Assert.Equal(0, h.Stage.GetStats(1).WindowsReemitted);
    }

    [Fact]
    public void Coarse_tier_patterns_filter_what_it_takes_from_its_source()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 0, "count"), Tier("1h", 60, 0, "count", source: "1m") with { Fields = ["a"] });
        h.Process(Line("cpu", "a=1,b=2", 10));
        h.Flush();
        Assert.Contains("cpu_1h a_count=1i 0", h.Lines);
        Assert.Contains("cpu_1m a_count=1i,b_count=1i 0", h.Lines);
    }
}
