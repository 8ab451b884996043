using Ingest.Transforms;
using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class OutputNamingTests
{
    [Fact]
    public void Output_line_has_tier_measurement_kept_tags_suffixed_fields_and_window_start()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 0, "p99,last,first,count,sum,max,min,mean"));
        h.Process(Line("cpu,host=a,region=eu", "usage=2", Minutes(1) + 5) + Line("cpu,host=a,region=eu", "usage=4", Minutes(1) + 6));
        Assert.Equal(
            ["cpu_1m,host=a,region=eu usage_mean=3,usage_min=2,usage_max=4,usage_sum=6,usage_count=2i,usage_first=2,usage_last=4,usage_p99=4 60000000000"],
            h.Flush());
    }

    [Fact]
    public void Percentile_fields_are_written_within_the_sketch_bound()
    {
        var h = new DownsampleHarness(Tier("1m", 1, 0, "p50,p90,p95,p99"));
        var body = string.Concat(Enumerable.Range(1, 100).Select(i => Line("cpu", $"v={i}", i)));
        h.Process(body);
        var p = Decode(Assert.Single(h.Flush()));
        Assert.Equal(["v_p50", "v_p90", "v_p95", "v_p99"], p.Fields.Select(f => f.Key));
        Assert.Equal(50, Float(p, "v_p50"), 0.5);
        Assert.Equal(90, Float(p, "v_p90"), 0.9);
        Assert.Equal(95, Float(p, "v_p95"), 0.95);
        Assert.Equal(99, Float(p, "v_p99"), 0.99);
    }

    [Fact]
    public void Escaped_measurement_tags_and_field_keys_are_carried_into_the_output()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        h.Process(@"my\ cpu\,x,data\ center=eu\,west,k\=1=v\ 1 used\ pct=1,a\,b\=c=2 10" + "\n");
        var line = Assert.Single(h.Flush());
        Assert.Equal(@"my\ cpu\,x_1m,data\ center=eu\,west,k\=1=v\ 1 used\ pct_count=1i,a\,b\=c_count=1i 0", line);
        var p = Decode(line);
        Assert.Equal("my cpu,x_1m", p.Measurement);
        Assert.Equal(["data center", "k=1"], p.Tags.Select(t => t.Key));
        Assert.Equal(["eu,west", "v 1"], p.Tags.Select(t => t.Value));
        Assert.Equal(["used pct_count", "a,b=c_count"], p.Fields.Select(f => f.Key));
    }

    [Fact]
    public void Output_goes_to_the_input_database_and_the_tier_retention_policy()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count") with { RetentionPolicy = "one_year" }, Tier("5m", 5, 0, "count"));
        h.Process(Line("cpu", "v=1", 10), database: "telegraf");
        h.Flush();
        Assert.Contains(("telegraf", "one_year", "cpu_1m v_count=1i 0"), h.Targets);
        Assert.Contains(("telegraf", "", "cpu_5m v_count=1i 0"), h.Targets);
    }

    [Theory]
    [InlineData("cpu", "cpu", true)]
    [InlineData("cp?", "cpu", true)]
    [InlineData("c*", "cpu", true)]
    [InlineData("*u", "cpu", true)]
    [InlineData("*a*b", "xaxb", true)]
    [InlineData("*", "", true)]
    [InlineData("cpu", "cpu2", false)]
    [InlineData("c?", "cpu", false)]
    [InlineData("*a", "*ba", true)]
    [InlineData("a*b*c", "abcbd", false)]
    public void Glob_matches_star_and_question_mark(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, text));
    }

    [Fact]
    public void Only_matching_measurements_and_fields_are_aggregated_by_their_unescaped_names()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count") with { Measurements = ["cpu*", "my mem"], Fields = ["usage_*", "a,b"] });
        h.Process(
            Line("cpu0", "usage_user=1,idle=2", 10) +
            Line(@"my\ mem", @"a\,b=1,usage_x=2", 10) +
            Line("disk", "usage_user=1", 10));
        var lines = h.Flush();
        Assert.Equal(2, lines.Count);
        Assert.Contains("cpu0_1m usage_user_count=1i 0", lines);
        Assert.Contains(@"my\ mem_1m a\,b_count=1i,usage_x_count=1i 0", lines);
        Assert.Equal(2, h.Stage.GetStats(0).PointsAggregated);
    }
}
