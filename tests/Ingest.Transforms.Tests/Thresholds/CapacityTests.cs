using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds;

public class CapacityTests
{
    [Fact]
    public void NewSeriesBeyondMaxSeries_AreNotEvaluatedButCounted()
    {
        var h = new ThresholdHarness(new ThresholdCheck([Rules.Above(crit: 90)], new ThresholdCheckOptions { MaxSeries = 1 }));
        Assert.Single(h.At(1, 95, "cpu,host=a"));
        Assert.Empty(h.At(1, 95, "cpu,host=b"));
        Assert.Equal(1, h.Engine.Counters.SeriesOverCapacity);
        Assert.Single(h.At(2, 50, "cpu,host=a"));
    }

    [Fact]
    public void SeriesOfMeasurementsWithoutRules_DoNotUseCapacity()
    {
        var h = new ThresholdHarness(new ThresholdCheck([Rules.Above(crit: 90)], new ThresholdCheckOptions { MaxSeries = 1 }));
        h.At(1, 95, "mem,host=a");
        Assert.Single(h.At(1, 95, "cpu,host=a"));
        Assert.Equal(0, h.Engine.Counters.SeriesOverCapacity);
    }
}
