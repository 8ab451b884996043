using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

public class EscalationTests
{
    [Fact]
    public void WithoutFor_EscalatesAndDeEscalatesOnePointAtATime()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90));
        h.At(1, 75);
        h.At(2, 95);
        h.At(3, 75);
        h.At(4, 50);
        Assert.Equal(["OK>WARN", "WARN>CRIT", "CRIT>WARN", "WARN>OK"], Transitions(h.Events));
    }

    [Fact]
    public void WithoutFor_JumpsStraightFromOkToCrit()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(1, 95)));
        Assert.Equal(["CRIT>OK"], Transitions(h.At(2, 10)));
    }

    [Fact]
    public void WithFor_WarnFiresFirstWhenCritStartedLater()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 75);
        h.At(30, 95);
        Assert.Equal(["OK>WARN"], Transitions(h.At(60, 95)));
        Assert.Empty(h.At(89, 95));
        Assert.Equal(["WARN>CRIT"], Transitions(h.At(90, 95)));
    }

    [Fact]
    public void WithFor_CritHeldFromTheStart_SkipsWarn()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 95);
        Assert.Equal(["OK>CRIT"], Transitions(h.At(60, 95)));
    }

    [Fact]
    public void WithFor_DeEscalationToWarnIsImmediate()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 95);
        h.At(60, 95);
        Assert.Equal(["CRIT>WARN"], Transitions(h.At(61, 75)));
    }

    [Fact]
    public void WithFor_CritPendingDipBackToWarn_RestartsCritButNotWarn()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90) with { For = TimeSpan.FromSeconds(60) });
        h.At(0, 95);
        h.At(30, 75);
        Assert.Equal(["OK>WARN"], Transitions(h.At(60, 95)));
        Assert.Empty(h.At(119, 95));
        Assert.Equal(["WARN>CRIT"], Transitions(h.At(120, 95)));
    }

    [Fact]
    public void Events_CarryValueTimeAndReadableMessage()
    {
        var h = new ThresholdHarness(Rules.Below(crit: 10) with { Field = "usage_idle" });
        var e = Assert.Single(h.At(5, 7.5, "cpu,host=a,region=eu", "usage_idle"));
        Assert.Equal("cpu_low", e.Rule);
        Assert.Equal("cpu,host=a,region=eu", e.SeriesKey);
        Assert.Equal("cpu", e.Measurement);
        Assert.Equal(["host=a", "region=eu"], e.Tags.Select(t => $"{t.Key}={t.Value}"));
        Assert.Equal(7.5, e.Value);
        Assert.Equal(Ns(5), e.Timestamp);
        Assert.Equal("cpu usage_idle on host=a,region=eu is 7.5, below 10 (CRIT)", e.Message);
        Assert.Equal(AlertId.Compute("cpu_low", "", "cpu,host=a,region=eu"), e.AlertId);
        Assert.Matches("^[0-9a-f]{16}$", e.AlertId);
        Assert.Equal("cpu usage_idle on host=a,region=eu is 50: OK, was CRIT",
            Assert.Single(h.At(6, 50, "cpu,host=a,region=eu", "usage_idle")).Message);
    }

    [Fact]
    public void RulesOnOtherFieldsOfTheSamePoint_AreEvaluatedIndependently()
    {
        var h = new ThresholdHarness(
            Rules.Above(crit: 90),
            Rules.Above(crit: 5) with { Name = "load_high", Field = "load" });
        var events = h.Feed($"cpu,host=a usage=95,load=1 {Ns(1)}", $"cpu,host=a usage=50,load=9 {Ns(2)}");
        Assert.Equal(["cpu_high OK>CRIT", "cpu_high CRIT>OK", "load_high OK>CRIT"],
            events.Select(e => $"{e.Rule} {AlertLevelNames.Upper(e.Previous)}>{AlertLevelNames.Upper(e.Level)}"));
    }

    [Fact]
    public void DuplicateFieldKeys_TheLastOneCounts_AsInfluxDbKeepsIt()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        Assert.Empty(h.Feed($"cpu,host=a usage=95,usage=50 {Ns(1)}"));
        Assert.Single(h.Feed($"cpu,host=a usage=50,usage=95 {Ns(2)}"));
    }

    [Fact]
    public void NonNumericValues_AreIgnoredAndCounted()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        Assert.Empty(h.Feed($"cpu,host=a usage=\"high\" {Ns(1)}"));
        Assert.Equal(1, h.Engine.Counters.NonNumericIgnored);
        Assert.Equal(["OK>CRIT"], Transitions(h.Feed($"cpu,host=a usage=95i {Ns(2)}")));
    }
}
