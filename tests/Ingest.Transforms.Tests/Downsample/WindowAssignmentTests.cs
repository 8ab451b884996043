using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class WindowAssignmentTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(59_999_999_999, 0)]
    [InlineData(60_000_000_000, 60_000_000_000)]
    [InlineData(61_000_000_000, 60_000_000_000)]
    [InlineData(-1, -60_000_000_000)]
    [InlineData(-60_000_000_000, -60_000_000_000)]
    [InlineData(-60_000_000_001, -120_000_000_000)]
    public void Point_lands_in_the_epoch_aligned_window_holding_its_timestamp(long time, long expectedStart)
    {
        var h = new DownsampleHarness(Tier());
        h.Process(Line("cpu", "v=1", time));
        var lines = h.Flush();
        var point = Assert.Single(lines.Select(Decode));
        Assert.Equal(expectedStart, point.Timestamp);
        Assert.Equal("cpu_1m", point.Measurement);
    }

    [Fact]
    public void Points_on_both_sides_of_a_boundary_go_to_different_windows()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        h.Process(Line("cpu", "v=1", Minutes(1) - 1) + Line("cpu", "v=2", Minutes(1)) + Line("cpu", "v=3", Minutes(1) + 5));
        h.Flush();
        var lines = h.Lines;
        Assert.Equal(2, lines.Count);
        Assert.Equal(1, Float(Single(lines, "cpu_1m", 0), "v_count"));
        Assert.Equal(2, Float(Single(lines, "cpu_1m", Minutes(1)), "v_count"));
    }

    [Fact]
    public void Window_is_written_when_the_watermark_reaches_its_end_and_not_before()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        Assert.Empty(h.Process(Line("cpu", "v=1", 10) + Line("cpu", "v=1", Minutes(1) - 1)));
        var written = h.Process(Line("cpu", "v=1", Minutes(1)));
        Assert.Equal(["cpu_1m v_count=2i 0"], written);
        Assert.Equal(1, h.Stage.GetStats(0).OpenWindows);
    }

    [Fact]
    public void Timestamp_whose_window_end_overflows_is_counted_out_of_range()
    {
        var h = new DownsampleHarness(Tier());
        h.Process(Line("cpu", "v=1", long.MaxValue - 1));
        Assert.Equal(1, h.Stage.GetStats(0).PointsOutOfRange);
        Assert.Empty(h.Flush());
    }
}
