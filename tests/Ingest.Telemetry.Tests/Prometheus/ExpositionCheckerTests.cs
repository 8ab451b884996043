namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>The checker must see the problems in the shared conformance examples, or a clean result proves nothing.</summary>
public class ExpositionCheckerTests
{
    private const string Examples = "/work/shared/conformance/prometheus_examples";

    public static TheoryData<string> Files(string folder) =>
        new(Directory.GetFiles(Path.Combine(Examples, folder), "*.prom").Order().Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Files), "valid")]
    public void ValidExample_HasNoProblems(string file)
    {
        Assert.Empty(ExpositionChecker.Check(File.ReadAllText(Path.Combine(Examples, "valid", file))));
    }

    [Theory]
    [MemberData(nameof(Files), "invalid_parse")]
    [MemberData(nameof(Files), "lint_fail")]
    [MemberData(nameof(Files), "spec_violation_not_caught")]
    public void BrokenExample_IsReported(string file)
    {
        string path = Directory.GetFiles(Examples, file, SearchOption.AllDirectories).Single();
        Assert.NotEmpty(ExpositionChecker.Check(File.ReadAllText(path)));
    }

    [Fact]
    public void HistogramWhoseInfBucketDiffersFromCount_IsReported()
    {
        string text = Exposition.Lines(
            "# HELP h_seconds H.", "# TYPE h_seconds histogram",
            "h_seconds_bucket{le=\"1\"} 2", "h_seconds_bucket{le=\"+Inf\"} 3", "h_seconds_sum 1", "h_seconds_count 4");

        Assert.Contains(ExpositionChecker.Check(text), p => p.Contains("!= _count"));
    }

    [Fact]
    public void HistogramWithDecreasingBuckets_IsReported()
    {
        string text = Exposition.Lines(
            "# HELP h_seconds H.", "# TYPE h_seconds histogram",
            "h_seconds_bucket{le=\"1\"} 2", "h_seconds_bucket{le=\"2\"} 1", "h_seconds_bucket{le=\"+Inf\"} 2", "h_seconds_sum 1", "h_seconds_count 2");

        Assert.Contains(ExpositionChecker.Check(text), p => p.Contains("not cumulative"));
    }
}
