using Ingest.Transforms;
using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds;

public class TagMatcherTests
{
    private static ThresholdHarness With(params TagMatcher[] tags) => new(Rules.Above(crit: 90) with { Tags = tags });

    [Fact]
    public void ExactMatcher_ChecksOnlySeriesWithThatValue()
    {
        var h = With(new TagMatcher("host", "a"));
        Assert.Single(h.At(1, 95, "cpu,host=a"));
        Assert.Empty(h.At(1, 95, "cpu,host=ab"));
        Assert.Empty(h.At(1, 95, "cpu,region=eu"));
    }

    [Fact]
    public void GlobMatcher_StarAndQuestionMark()
    {
        var h = With(new TagMatcher("host", "web-?*"));
        Assert.Single(h.At(1, 95, "cpu,host=web-1"));
        Assert.Single(h.At(1, 95, "cpu,host=web-eu-12"));
        Assert.Empty(h.At(1, 95, "cpu,host=web-"));
        Assert.Empty(h.At(1, 95, "cpu,host=db-1"));
    }

    [Fact]
    public void NegativeMatcher_PassesAbsentTagsAndOtherValues()
    {
        var h = With(TagMatcher.Parse("env", "!prod*"));
        Assert.Single(h.At(1, 95, "cpu,env=dev,host=a"));
        Assert.Single(h.At(1, 95, "cpu,host=b"));
        Assert.Empty(h.At(1, 95, "cpu,env=production,host=c"));
    }

    [Fact]
    public void Matchers_CompareUnescapedText()
    {
        var h = With(new TagMatcher("dc", "eu west"));
        Assert.Single(h.At(1, 95, @"cpu,dc=eu\ west"));
    }

    [Fact]
    public void EscapedMeasurementAndField_MatchTheRuleWrittenPlainly()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { Measurement = "cpu load", Field = "user pct" });
        Assert.Single(h.At(1, 95, @"cpu\ load,host=a", @"user\ pct"));
    }

    [Fact]
    public void OtherMeasurements_AreNotRemembered()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 95, "mem,host=a");
        Assert.Equal(0, h.Engine.Counters.Series);
    }

    [Theory]
    [InlineData("*", "", true)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    [InlineData("??", "ab", true)]
    [InlineData("??", "abc", false)]
    [InlineData("a", "A", false)]
    public void Glob_MatchesWholeText(string pattern, string text, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, text));
}
