using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class HysteresisTests
{
    [Fact]
    public void Above_FiresOnlyWhenStrictlyAboveLevel()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        Assert.Empty(h.At(1, 90));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(2, 90.5)));
    }

    [Fact]
    public void Above_WithReset_StaysCritUntilValueAtOrBelowReset()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { CritReset = 80 });
        Assert.Equal(["OK>CRIT"], Transitions(h.At(1, 95)));
        Assert.Empty(h.At(2, 85));
        Assert.Empty(h.At(3, 80.01));
        Assert.Equal(["CRIT>OK"], Transitions(h.At(4, 80)));
    }

    [Fact]
    public void Above_WithoutReset_DropsAsSoonAsNotAboveLevel()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 95);
        Assert.Equal(["CRIT>OK"], Transitions(h.At(2, 90)));
    }

    [Fact]
    public void Above_AfterReset_NeedsTheLevelAgainNotTheReset()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { CritReset = 80 });
        h.At(1, 95);
        h.At(2, 70);
        Assert.Empty(h.At(3, 85));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(4, 91)));
    }

    [Fact]
    public void Below_WithReset_StaysCritUntilValueAtOrAboveReset()
    {
        var h = new ThresholdHarness(Rules.Below(crit: 10) with { CritReset = 20 });
        Assert.Empty(h.At(1, 10));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(2, 9.9)));
        Assert.Empty(h.At(3, 15));
        Assert.Empty(h.At(4, 19.99));
        Assert.Equal(["CRIT>OK"], Transitions(h.At(5, 20)));
    }

    [Fact]
    public void Crit_DroppingBelowItsReset_FallsToWarnWhileWarnResetStillHolds()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { WarnReset = 60, CritReset = 80 });
        h.At(1, 95);
        // 65 is under Warn but above WarnReset: a CRIT series had breached Warn, so WARN holds by hysteresis.
        Assert.Equal(["CRIT>WARN"], Transitions(h.At(2, 65)));
        Assert.Equal(["WARN>OK"], Transitions(h.At(3, 60)));
    }
}
