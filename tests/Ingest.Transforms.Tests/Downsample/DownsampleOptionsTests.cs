using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class DownsampleOptionsTests
{
    private static IReadOnlyList<string> Errors(params DownsampleTier[] tiers) => new DownsampleOptions { Tiers = tiers }.Validate();

    [Fact]
    public void Valid_tiers_have_no_errors()
    {
        Assert.Empty(Errors(Tier("1m", 1, 1), Tier("1h", 60, 0, source: "1m")));
        Assert.Empty(Errors());
    }

    [Fact]
    public void Each_error_names_the_tier_index_the_property_and_the_value()
    {
        var errors = Errors(
            Tier("1m") with { Interval = TimeSpan.Zero, Aggregates = ["mean", "p42"], Fields = [] },
            Tier("1 h", 60, -1));
        Assert.Contains("Tiers:0:Interval = '00:00:00': must be positive", errors);
        Assert.Contains(errors, e => e.StartsWith("Tiers:0:Aggregates:1 = 'p42': unknown aggregate; expected one of mean, min", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Tiers:0:Fields = '':", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Tiers:1:Name = '1 h':", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Tiers:1:AllowedLateness = '-00:01:00': must not be negative", StringComparison.Ordinal));
    }

    [Fact]
    public void Source_must_be_an_earlier_tier_with_an_interval_dividing_this_one()
    {
        Assert.Contains(Errors(Tier("1h", 60, source: "1m"), Tier("1m")), e => e.StartsWith("Tiers:0:Source = '1m': must name a tier listed before", StringComparison.Ordinal));
        Assert.Contains(Errors(Tier("1m"), Tier("90s", 1.5, source: "1m")), e => e.StartsWith("Tiers:1:Interval = '00:01:30': must be a multiple", StringComparison.Ordinal));
        Assert.Contains(Errors(Tier("1m"), Tier("1h", 60, 5, source: "1m")), e => e.StartsWith("Tiers:1:AllowedLateness = '00:05:00': must be zero for a tier with a Source", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        Assert.Contains("Tiers:1:Name = '1m': already used by Tiers:0", Errors(Tier("1m"), Tier("1m", 5)));
    }

    [Fact]
    public void Stage_refuses_invalid_options_with_every_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => new DownsampleStage(new DownsampleOptions { Tiers = [Tier("") with { Interval = TimeSpan.Zero }] }));
        Assert.Contains("Tiers:0:Name", ex.Message);
        Assert.Contains("Tiers:0:Interval", ex.Message);
    }
}
