using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds;

public class AllocationTests
{
    [Fact]
    public void SteadyState_AllocatesNothingPerPoint()
    {
        var rules = new[]
        {
            new ThresholdRule { Name = "hi", Measurement = "cpu", Field = "usage", Warn = 70, Crit = 90, For = TimeSpan.FromSeconds(30), NoDataTimeout = TimeSpan.FromMinutes(5) },
            new ThresholdRule { Name = "lo", Measurement = "cpu", Field = "idle", Direction = ThresholdDirection.Below, Crit = 5, Tags = [new TagMatcher("host", "h*")] },
            new ThresholdRule { Name = "disk", Measurement = "disk", Field = "used", Crit = 95 },
        };
        var engine = new ThresholdCheck(rules);
        var events = new List<AlertEvent>();
        var warm = Batch(0);
        var steady = Batch(1);
        engine.Process(warm, events);
        engine.Process(steady, events);
        events.Clear();

        long allocated = Allocations.Fewest(() => engine.Process(steady, events));

        Assert.Empty(events);
        Assert.Equal(0, allocated);
        Assert.True(engine.Counters.Evaluations >= 3 * 2 * 100);
    }

    /// <summary>100 known series, values inside every threshold, plus points of a measurement no rule checks.</summary>
    private static PointBatch Batch(int round)
    {
        var text = new StringBuilder();
        for (int i = 0; i < 100; i++)
        {
            long t = (round * 100 + i) * 1_000_000_000L;
            text.Append($"cpu,host=h{i} usage=42.5,idle=50i {t}\n");
            text.Append($"mem,host=h{i} used=1 {t}\n");
            text.Append($"disk,path=/d{i % 7} used=10 {t}\n");
        }
        var batch = new PointBatch();
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(text.ToString()), Precision.Nanoseconds, 0, batch);
        return batch;
    }
}
