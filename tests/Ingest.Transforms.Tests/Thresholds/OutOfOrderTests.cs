using Ingest.Transforms.Tests.Thresholds.Support;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class OutOfOrderTests
{
    [Fact]
    public void OlderPoint_IsIgnoredAndCounted()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(10, 50);
        Assert.Empty(h.At(5, 95));
        Assert.Equal(1, h.Engine.Counters.OutOfOrderIgnored);
        Assert.Equal(1, h.Engine.Counters.Evaluations);
    }

    [Fact]
    public void OlderPoint_DoesNotBreakPendingProgress()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 95);
        h.At(30, 95);
        h.At(10, 20);
        Assert.Equal(["OK>CRIT"], Transitions(h.At(60, 95)));
    }

    [Fact]
    public void SameTimestamp_IsEvaluatedAsTheNewerWrite()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(10, 50);
        Assert.Equal(["OK>CRIT"], Transitions(h.At(10, 95)));
    }

    [Fact]
    public void LatePointOfAnotherSeries_IsEvaluatedAgainstItsOwnHistory()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(100, 50, "cpu,host=a");
        Assert.Equal(["OK>CRIT"], Transitions(h.At(5, 95, "cpu,host=b")));
    }
}
