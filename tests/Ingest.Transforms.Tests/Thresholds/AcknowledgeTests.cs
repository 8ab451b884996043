using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class AcknowledgeTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Acknowledge_ShowsInActiveAlerts()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        var fired = Assert.Single(h.At(5, 95));
        Assert.True(h.Engine.Acknowledge(fired.AlertId, "alice", When));
        var active = Assert.Single(h.Engine.ActiveAlerts);
        Assert.Equal((fired.AlertId, "cpu_high", "cpu,host=a", AlertLevel.Crit, Ns(5), 95.0, "alice", (DateTimeOffset?)When),
            (active.Id, active.Rule, active.SeriesKey, active.Level, active.Since, active.Value, active.AcknowledgedBy, active.AcknowledgedAt));
    }

    [Fact]
    public void Acknowledge_UnknownOrOkAlert_ReturnsFalse()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 50);
        Assert.False(h.Engine.Acknowledge("ffffffffffffffff", "alice", When));
        Assert.False(h.Engine.Acknowledge(AlertId.Compute("cpu_high", "", "cpu,host=a"), "alice", When));
    }

    [Fact]
    public void ActiveAlerts_ListOnlyNonOkStatesOldestFirst()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 95, "cpu,host=b");
        h.At(2, 95, "cpu,host=a");
        h.At(3, 50, "cpu,host=c");
        Assert.Equal(["cpu,host=b", "cpu,host=a"], h.Engine.ActiveAlerts.Select(a => a.SeriesKey));
        h.At(4, 50, "cpu,host=b");
        Assert.Equal(["cpu,host=a"], h.Engine.ActiveAlerts.Select(a => a.SeriesKey));
    }

    [Fact]
    public void Escalation_ClearsTheAcknowledgement()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90));
        var warn = Assert.Single(h.At(1, 75));
        h.Engine.Acknowledge(warn.AlertId, "alice", When);
        h.At(2, 95);
        Assert.Null(Assert.Single(h.Engine.ActiveAlerts).AcknowledgedBy);
    }

    [Fact]
    public void Acknowledgement_SurvivesRestore()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        var fired = Assert.Single(h.At(1, 95));
        h.Engine.Acknowledge(fired.AlertId, "alice", When);
        var after = new ThresholdCheck([Rules.Above(crit: 90)]);
        after.Import(ThresholdSnapshotJson.Deserialize(ThresholdSnapshotJson.Serialize(h.Engine.Export())));
        Assert.Equal(When, Assert.Single(after.ActiveAlerts).AcknowledgedAt);
    }
}
