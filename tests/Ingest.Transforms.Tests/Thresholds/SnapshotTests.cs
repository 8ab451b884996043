using System.Text;
using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class SnapshotTests
{
    private static ThresholdRule ForRule => Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(60) };

    private static ThresholdHarness Restart(ThresholdHarness before, params ThresholdRule[] rules)
    {
        var bytes = ThresholdSnapshotJson.Serialize(before.Engine.Export());
        var after = new ThresholdCheck(rules);
        after.Import(ThresholdSnapshotJson.Deserialize(bytes));
        return new ThresholdHarness(after);
    }

    [Fact]
    public void Restore_KeepsPendingForProgress()
    {
        var before = new ThresholdHarness(ForRule);
        before.At(0, 95);
        before.At(30, 95);

        var after = Restart(before, ForRule);
        Assert.Empty(after.At(59, 95));
        Assert.Equal(["OK>CRIT"], Transitions(after.At(60, 95)));
    }

    [Fact]
    public void Restore_KeepsKeepFiringDeadlineAndLevel()
    {
        var rule = Rules.Above(crit: 90) with { KeepFiringFor = TimeSpan.FromSeconds(30) };
        var before = new ThresholdHarness(rule);
        before.At(0, 95);
        before.At(10, 50);

        var after = Restart(before, rule);
        Assert.Equal(AlertLevel.Crit, Assert.Single(after.Engine.ActiveAlerts).Level);
        Assert.Empty(after.At(39, 50));
        Assert.Equal(["CRIT>OK"], Transitions(after.At(40, 50)));
    }

    [Fact]
    public void Restore_KeepsOutOfOrderReferenceAndWatermark()
    {
        var before = new ThresholdHarness(Rules.Above(crit: 90));
        before.At(100, 50);
        var after = Restart(before, Rules.Above(crit: 90));
        Assert.Equal(Ns(100), after.Engine.Watermark);
        Assert.Empty(after.At(50, 95));
        Assert.Equal(1, after.Engine.Counters.OutOfOrderIgnored);
    }

    [Fact]
    public void Restore_SkipsStatesOfRulesNoLongerConfigured()
    {
        var before = new ThresholdHarness(Rules.Above(crit: 90), Rules.Below(crit: 10));
        before.At(0, 95);
        var after = new ThresholdCheck([Rules.Below(crit: 10)]);
        var result = after.Import(before.Engine.Export());
        Assert.Equal(new ImportResult(1, 1), result);
    }

    [Fact]
    public void Json_IsCompactAndReadable()
    {
        var h = new ThresholdHarness(ForRule);
        h.At(1, 95);
        var json = Encoding.UTF8.GetString(ThresholdSnapshotJson.Serialize(h.Engine.Export()));
        Assert.Equal(
            "{\"version\":2,\"watermark\":1000000000,\"states\":[{\"rule\":\"cpu_high\",\"database\":\"\",\"seriesKey\":\"cpu,host=a\"," +
            "\"level\":\"Ok\",\"lastEvaluated\":1000000000,\"lastValue\":95,\"warnSince\":1000000000,\"critSince\":1000000000}]}",
            json);
    }

    [Fact]
    public void TakeDirty_ReturnsEachChangedStateOnceUntilItChangesAgain()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 95, "cpu,host=a");
        h.At(2, 95, "cpu,host=a");
        h.At(2, 50, "cpu,host=b");
        var dirty = new List<AlertStateRecord>();
        Assert.Equal(2, h.Engine.TakeDirty(dirty));
        Assert.Equal(["cpu,host=a", "cpu,host=b"], dirty.Select(r => r.SeriesKey));
        Assert.Equal(Ns(2), dirty[0].LastEvaluated);
        dirty.Clear();
        Assert.Equal(0, h.Engine.TakeDirty(dirty));
        h.At(3, 50, "cpu,host=b");
        Assert.Equal(1, h.Engine.TakeDirty(dirty));
    }

    [Fact]
    public void DirtyRecords_RestoreOneByOne()
    {
        var before = new ThresholdHarness(ForRule);
        before.At(0, 95);
        before.At(30, 95);
        var dirty = new List<AlertStateRecord>();
        before.Engine.TakeDirty(dirty);
        var stored = dirty.ToDictionary(r => r.Id, r => ThresholdSnapshotJson.Serialize(r));

        var after = new ThresholdHarness(ForRule);
        after.Engine.Import(stored.Values.Select(b => ThresholdSnapshotJson.DeserializeRecord(b)), before.Engine.Watermark);
        Assert.Equal(["OK>CRIT"], Transitions(after.At(60, 95)));
        Assert.Equal(AlertId.Compute("cpu_high", "", "cpu,host=a"), stored.Keys.Single());
    }
}
