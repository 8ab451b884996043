using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class FlushTests
{
    [Fact]
    public void Flush_writes_and_closes_every_open_window_of_every_tier()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 5, "count"), Tier("1h", 60, 0, "count", source: "1m"), Tier("10s", 1.0 / 6, 0, "count"));
        h.Process(Line("cpu,host=a", "v=1", 10) + Line("cpu,host=b", "v=1", Minutes(3)) + Line("mem", "v=1", Minutes(3.5)));
        var before = h.Lines.Count;

        h.Flush();

        Assert.All(Enumerable.Range(0, 3), t => Assert.Equal(0, h.Stage.GetStats(t).OpenWindows));
        Assert.All(Enumerable.Range(0, 3), t => Assert.Equal(0, h.Stage.GetStats(t).ActiveSeries));
        Assert.Contains("cpu_1h,host=a v_count=1i 0", h.Lines);
        Assert.Contains("cpu_1h,host=b v_count=1i 0", h.Lines);
        Assert.Contains("mem_1h v_count=1i 0", h.Lines);
        Assert.Contains("mem_1m v_count=1i 180000000000", h.Lines);
        Assert.Contains("mem_10s v_count=1i 210000000000", h.Lines);
        Assert.Empty(h.Flush());
    }

    [Fact]
    public void Point_for_a_window_closed_by_flush_counts_late_instead_of_overwriting_it()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=1", 20));
        h.Flush();
        Assert.Empty(h.Process(Line("cpu", "v=1", 30)));
        Assert.Empty(h.Flush());
        Assert.Equal(1, h.Stage.GetStats(0).PointsDroppedLate);
        Assert.Equal(["cpu_1m v_count=2i 0"], h.Lines);
    }
}
