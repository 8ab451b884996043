using System.Text.RegularExpressions;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The alerting rules for the daemon itself (<c>deploy/prometheus/</c>): valid for Prometheus, each alert raised by
/// its unit test's series and only then, and every metric they read one the daemon serves (the README's table,
/// which the golden test holds to the live <c>/metrics</c>).
/// </summary>
public class AlertingRulesTests
{
    private static string Folder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ingest.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "the repository was not found above " + AppContext.BaseDirectory);
        return Path.Combine(dir!.FullName, "deploy", "prometheus");
    }

    [Fact]
    public async Task The_rules_pass_promtool_check_rules()
    {
        var result = await PromTool.RunAsync(["check", "rules", Path.Combine(Folder(), "ingest-rules.yml")]);
        Assert.True(result.Succeeded, result.ToString());
        Assert.Contains("SUCCESS: 9 rules found", result.StandardOutput);
    }

    [Fact]
    public async Task Each_alert_fires_on_its_unit_tests_series_and_only_then()
    {
        var result = await PromTool.RunAsync(["test", "rules", Path.Combine(Folder(), "ingest-rules.test.yml")]);
        Assert.True(result.Succeeded, result.ToString());
        // Every alert of the rules is tested.
        var rules = File.ReadAllText(Path.Combine(Folder(), "ingest-rules.yml"));
        var tests = File.ReadAllText(Path.Combine(Folder(), "ingest-rules.test.yml"));
        var alerts = Regex.Matches(rules, @"- alert: (\w+)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(9, alerts.Count);
        Assert.All(alerts, alert => Assert.Contains("alertname: " + alert, tests));
    }

    [Fact]
    public void Every_metric_the_rules_read_is_one_the_daemon_serves()
    {
        var rules = File.ReadAllText(Path.Combine(Folder(), "ingest-rules.yml"));
        var used = Regex.Matches(rules, @"\bingest_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        var served = MetricsGoldenTests.ReadmeFamilies().Select(f => f.Name).ToHashSet();
        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.True(served.Contains(name), $"{name} is not in the README's Metrics table"));
    }
}
