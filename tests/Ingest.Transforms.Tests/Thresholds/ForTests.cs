using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class ForTests
{
    private static ThresholdRule Rule => Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(60) };

    [Fact]
    public void For_FiresOnlyAtTheFirstPointAfterTheConditionHeldThatLong()
    {
        var h = new ThresholdHarness(Rule);
        Assert.Empty(h.At(0, 95));
        Assert.Empty(h.At(30, 95));
        Assert.Empty(h.At(59.999, 95));
        var fired = h.At(60, 95);
        Assert.Equal(["OK>CRIT"], Transitions(fired));
        Assert.Equal(Ns(60), fired[0].Timestamp);
    }

    [Fact]
    public void For_OnePointBelowTheLevel_RestartsThePendingTime()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        h.At(50, 89);
        h.At(55, 95);
        Assert.Empty(h.At(100, 95));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(115, 95)));
    }

    [Fact]
    public void For_DoesNotDelayTheDrop()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        h.At(60, 95);
        Assert.Equal(["CRIT>OK"], Transitions(h.At(61, 50)));
    }

    [Fact]
    public void For_PendingStateIsNotAnActiveAlert()
    {
        var h = new ThresholdHarness(Rule);
        h.At(0, 95);
        Assert.Empty(h.Engine.ActiveAlerts);
        h.At(60, 95);
        Assert.Equal(AlertLevel.Crit, Assert.Single(h.Engine.ActiveAlerts).Level);
    }
}
