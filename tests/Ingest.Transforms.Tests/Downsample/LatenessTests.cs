using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class LatenessTests
{
    [Fact]
    public void Late_point_within_lateness_rewrites_the_window_with_corrected_values()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 2, aggregates: "max,sum,count,last"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=2", 20));
        Assert.Equal(["cpu_1m v_max=2,v_sum=3,v_count=2i,v_last=2 0"], h.Process(Line("cpu", "v=0", Minutes(1.5))));

        var rewritten = h.Process(Line("cpu", "v=10", 5));

        Assert.Equal(["cpu_1m v_max=10,v_sum=13,v_count=3i,v_last=2 0"], rewritten);
        Assert.Equal(1, h.Stage.GetStats(0).WindowsReemitted);
        Assert.Equal(0, h.Stage.GetStats(0).PointsDroppedLate);
    }

    [Fact]
    public void Several_late_points_in_one_call_rewrite_the_window_once()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 5, aggregates: "count"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=1", Minutes(1)));
        var rewritten = h.Process(Line("cpu", "v=1", 11) + Line("cpu", "v=1", 12) + Line("cpu", "v=1", 13));
        Assert.Equal(["cpu_1m v_count=4i 0"], rewritten);
    }

    [Fact]
    public void Series_first_seen_in_an_already_written_window_is_written_as_a_first_emission()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 5, aggregates: "count"));
        h.Process(Line("cpu,host=a", "v=1", 10) + Line("cpu,host=a", "v=1", Minutes(1)));
        var written = h.Process(Line("cpu,host=b", "v=1", 10));
        Assert.Equal(["cpu_1m,host=b v_count=1i 0"], written);
        Assert.Equal(0, h.Stage.GetStats(0).WindowsReemitted);
        Assert.Equal(2, h.Stage.GetStats(0).WindowsEmitted);
    }

    [Fact]
    public void Point_beyond_lateness_is_dropped_and_counted_late()
    {
        var h = new DownsampleHarness(Tier(latenessMinutes: 1, aggregates: "count"));
        h.Process(Line("cpu", "v=1", 10));
        h.Process(Line("cpu", "v=1", Minutes(2))); // watermark at end + lateness: window 0 is closed
        Assert.Empty(h.Process(Line("cpu", "v=1", 20)));
        var stats = h.Stage.GetStats(0);
        Assert.Equal(1, stats.PointsDroppedLate);
        Assert.Equal(2, stats.PointsAggregated);
        h.Flush();
        Assert.Equal(["cpu_1m v_count=1i 0", "cpu_1m v_count=1i 120000000000"], h.Lines);
    }

    [Fact]
    public void Without_lateness_a_window_is_final_once_written()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=1", Minutes(1)));
        h.Process(Line("cpu", "v=1", 11));
        Assert.Equal(1, h.Stage.GetStats(0).PointsDroppedLate);
        Assert.Equal(0, h.Stage.GetStats(0).WindowsReemitted);
    }

    [Fact]
    public void Watermark_is_per_tier_from_the_measurements_it_takes()
    {
        var h = new DownsampleHarness(
            Tier() with { Measurements = ["cpu"] },
            Tier("mem1m") with { Measurements = ["mem"] });
        h.Process(Line("cpu", "v=1", 10) + Line("mem", "v=1", 10) + Line("cpu", "v=1", Minutes(5)));
        Assert.Equal(Minutes(5), h.Stage.GetStats(0).Watermark);
        Assert.Equal(10, h.Stage.GetStats(1).Watermark);
        Assert.Equal(1, h.Stage.GetStats(1).OpenWindows); // mem's window is not closed by cpu's clock
    }
}
