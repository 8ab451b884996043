using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class NoDataTests
{
    private static ThresholdRule Rule => Rules.Above(crit: 90) with { NoDataTimeout = TimeSpan.FromSeconds(60) };

    [Fact]
    public void SilentSeries_GoesNoDataWhenOtherSeriesMoveTheWatermarkPastTheTimeout()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95, "cpu,host=a");
        h.At(0, 50, "cpu,host=b");
        h.At(60, 50, "cpu,host=b");
        Assert.Empty(h.At(60, 50, "cpu,host=b"));
        var events = h.At(61, 50, "cpu,host=b");
        var e = Assert.Single(events);
        Assert.Equal((AlertLevel.Crit, AlertLevel.NoData, AlertReason.NoData), (e.Previous, e.Level, e.Reason));
        Assert.Equal("cpu,host=a", e.SeriesKey);
        Assert.Equal(Ns(60), e.Timestamp);
        Assert.Equal(95, e.Value);
        Assert.Equal("cpu usage on host=a: no data for 1m (NODATA, was CRIT)", e.Message);
    }

    [Fact]
    public void SilenceOfExactlyTheTimeout_IsStillInTime()
    {
        var h = new ThresholdHarness(Rule);
        h.At(-1, 50, "cpu,host=b");
        h.At(0, 50, "cpu,host=a");
        var events = h.Advance(60);
        Assert.Equal(["cpu,host=b"], events.Select(e => e.SeriesKey));
    }

    [Fact]
    public void SilentOkSeries_AlsoGoesNoData()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 50);
        Assert.Equal(["OK>NODATA"], Transitions(h.Advance(61)));
        Assert.Equal(AlertLevel.NoData, Assert.Single(h.Engine.ActiveAlerts).Level);
    }

    [Fact]
    public void AdvanceWatermark_ReportsSilenceOnce()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 50);
        Assert.Empty(h.Advance(60));
        Assert.Single(h.Advance(61));
        Assert.Empty(h.Advance(500));
    }

    [Fact]
    public void NextPoint_LeavesNoDataEvenToOk()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        h.Advance(100);
        var resumed = Assert.Single(h.At(101, 50));
        Assert.Equal((AlertLevel.NoData, AlertLevel.Ok), (resumed.Previous, resumed.Level));
        Assert.Equal("cpu usage on host=a is 50, data resumed: OK, was NODATA", resumed.Message);
    }

    [Fact]
    public void NoData_ForgetsPendingProgress()
    {
        var h = new ThresholdHarness(Rule with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 95);
        h.At(50, 95);
        h.Advance(111);
        Assert.Equal(["NODATA>OK"], Transitions(h.At(112, 95)));
        Assert.Empty(h.At(171, 95));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(172, 95)));
    }

    [Fact]
    public void PointOfTheSilentSeriesItself_ReportsTheGapThenResumes()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        Assert.Equal(["CRIT>NODATA", "NODATA>CRIT"], Transitions(h.At(61, 95)));
    }

    [Fact]
    public void RuleWithoutTimeout_NeverReportsNoData()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(0, 95);
        Assert.Empty(h.Advance(1_000_000));
    }
}
