using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds;

public class RuleValidationTests
{
    private static string[] Errors(params ThresholdRule[] rules) =>
        ThresholdRuleValidator.Validate(rules).Select(e => e.ToString()).ToArray();

    [Fact]
    public void ValidRules_HaveNoErrors() =>
        Assert.Empty(Errors(Rules.Above(warn: 70, crit: 90) with { WarnReset = 60, CritReset = 90 }, Rules.Below(warn: 20, crit: 10)));

    [Fact]
    public void AboveRule_WarnNotBelowCrit_NamesIndexAndProperty() =>
        Assert.Equal(["Thresholds:Rules:1:Warn = '95': must be below Crit (90) for an 'Above' rule"],
            Errors(Rules.Below(crit: 1), Rules.Above(warn: 95, crit: 90)));

    [Fact]
    public void BelowRule_WarnNotAboveCrit_IsInvalid() =>
        Assert.Equal(["Thresholds:Rules:0:Warn = '5': must be above Crit (10) for a 'Below' rule"],
            Errors(Rules.Below(warn: 5, crit: 10)));

    [Fact]
    public void ResetOnTheWrongSide_IsInvalid() =>
        Assert.Equal(
        [
            "Thresholds:Rules:0:CritReset = '95': must be at or below Crit (90) for an 'Above' rule",
            "Thresholds:Rules:1:WarnReset = '15': must be at or above Warn (20) for a 'Below' rule",
        ],
            Errors(Rules.Above(crit: 90) with { CritReset = 95 }, Rules.Below(warn: 20) with { WarnReset = 15 }));

    [Fact]
    public void ResetWithoutItsLevel_IsInvalid() =>
        Assert.Equal(["Thresholds:Rules:0:WarnReset = '60': needs Warn to be set"],
            Errors(Rules.Above(crit: 90) with { WarnReset = 60 }));

    [Fact]
    public void MissingNamesAndBadDurations_AreEachReported() =>
        Assert.Equal(
        [
            "Thresholds:Rules:0:Name = '': must not be empty",
            "Thresholds:Rules:0:Field = '': must not be empty",
            "Thresholds:Rules:0:For = '-00:00:01': must not be negative",
            "Thresholds:Rules:0:NoDataTimeout = '00:00:00': must be positive (leave it out to disable)",
            "Thresholds:Rules:0:Tags:0:Pattern = '': must not be empty (tag values never are)",
        ],
            Errors(new ThresholdRule
            {
                Measurement = "cpu", For = TimeSpan.FromSeconds(-1), NoDataTimeout = TimeSpan.Zero,
                Tags = [new TagMatcher("host", "")],
            }));

    [Fact]
    public void RuleWithoutAnyLevel_IsInvalid() =>
        Assert.Equal(["Thresholds:Rules:0:Crit = '': a rule needs Warn, Crit or NoDataTimeout"], Errors(Rules.Above()));

    [Fact]
    public void DuplicateNames_AreInvalid() =>
        Assert.Equal(["Thresholds:Rules:1:Name = 'cpu_high': duplicates the name of Thresholds:Rules:0"],
            Errors(Rules.Above(crit: 90), Rules.Above(crit: 80)));

    [Fact]
    public void Engine_RefusesInvalidRules()
    {
        var ex = Assert.Throws<InvalidThresholdRulesException>(() => new ThresholdCheck([Rules.Above(warn: 95, crit: 90)]));
        Assert.Equal("Thresholds:Rules:0:Warn", Assert.Single(ex.Errors).Key);
    }
}
