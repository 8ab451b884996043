using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class KeepFiringForTests
{
    private static ThresholdRule Rule => Rules.Above(crit: 90) with { KeepFiringFor = TimeSpan.FromSeconds(30) };

    [Fact]
    public void KeepFiringFor_HoldsTheLevelUntilThatLongAfterTheConditionStopped()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        Assert.Empty(h.At(10, 50));
        Assert.Empty(h.At(39.999, 50));
        var dropped = h.At(40, 50);
        Assert.Equal(["CRIT>OK"], Transitions(dropped));
        Assert.Equal(Ns(40), dropped[0].Timestamp);
    }

    [Fact]
    public void KeepFiringFor_ConditionReturning_CancelsTheCountdown()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        h.At(10, 50);
        Assert.Empty(h.At(20, 95));
        Assert.Empty(h.At(30, 50));
        Assert.Empty(h.At(45, 50));
        Assert.Equal(["CRIT>OK"], Transitions(h.At(60, 50)));
    }

    [Fact]
    public void KeepFiringFor_FromCritWithWarnStillHeld_DropsToWarnWhenItRunsOut()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { KeepFiringFor = TimeSpan.FromSeconds(30) });
        h.At(0, 95);
        Assert.Empty(h.At(10, 75));
        Assert.Equal(["CRIT>WARN"], Transitions(h.At(40, 75)));
    }
}
