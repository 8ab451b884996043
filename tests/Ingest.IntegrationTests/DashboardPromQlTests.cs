using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Dashboards;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// Every PromQL expression of <c>dashboards/ingest-daemon.json</c> run on a real Prometheus that scraped the daemon every
/// second while it took a steady load through <c>/write</c> and a <c>udp</c> source; each must answer a non-empty result.
/// </summary>
public class DashboardPromQlTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Dashboard_every_PromQL_expression_of_the_daemon_dashboard_answers_from_a_scraped_daemon()
    {
        var dashboard = GrafanaDashboard.Load("ingest-daemon.json");
        var udpPort = FreeUdpPort();
        var db = ServersFixture.UniqueName("dashprom");
        var settings = SqlSourceTests.Source("udp_in", db, new() { ["Type"] = "udp", ["Listen"] = $"127.0.0.1:{udpPort}" });
        settings["Thresholds:Rules:0:Name"] = "load_high";
        settings["Thresholds:Rules:0:Measurement"] = "load";
        settings["Thresholds:Rules:0:Field"] = "v";
        settings["Thresholds:Rules:0:Warn"] = "80";
        // Two tiers, for the data dashboard's tier picked by the time range.
        foreach (var (i, name) in new[] { (0, "1m"), (1, "1h") })
        {
            settings[$"Downsample:Tiers:{i}:Name"] = name;
            settings[$"Downsample:Tiers:{i}:Interval"] = name;
            settings[$"Downsample:Tiers:{i}:Measurements:0"] = "load";
            settings[$"Downsample:Tiers:{i}:Fields:0"] = "*";
            settings[$"Downsample:Tiers:{i}:Aggregates:0"] = "mean";
        }
        await using var stack = await IngestStack.StartAsync(settings);
        await using var prometheus = await PrometheusServer.StartNewAsync($"127.0.0.1:{stack.Daemon.Port}", TimeSpan.FromSeconds(1));

        // A steady load: every 200 ms a body through /write (with one unparsable line, so rejections exist) and a
        // datagram through the udp source; the value swings across the rule's level, so alerts keep changing.
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            using var udp = new UdpClient();
            udp.Connect(IPAddress.Loopback, udpPort);
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                long ns = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
                var v = (i % 2 == 0 ? 95 : 10).ToString(CultureInfo.InvariantCulture);
                var body = $"load,host=a v={v} {ns}\nload,host=b v={i} {ns}\nnot line protocol\n";
                using (await stack.Client.PostAsync($"write?db={db}", new StringContent(body, Encoding.UTF8, "text/plain"))) { }
                await udp.SendAsync(Encoding.UTF8.GetBytes($"udp_m,host=u v={i} {ns}"));
                await Task.Delay(200);
            }
        });

        try
        {
            // Enough scrapes for every rate over the 15 s range below to have several samples.
            double scrapes = 0;
            Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            {
                var r = await prometheus.QueryAsync("count_over_time(up{job=\"ingest\"}[1m])");
                scrapes = r.GetArrayLength() == 0 ? 0 : double.Parse(r[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
                return scrapes >= 8;
            }, TimeSpan.FromSeconds(40), pollMs: 500), $"Prometheus scraped the daemon {scrapes} times\n{prometheus.LogTail()}");
            var up = await prometheus.QueryAsync("up{job=\"ingest\"}");
            Assert.Equal("1", up[0].GetProperty("value")[1].GetString());

            // Variables: label_values(metric, label) through Prometheus' label API; every value chosen.
            var values = new Dictionary<string, string> { ["__rate_interval"] = "15s", ["__interval"] = "5s", ["__interval_ms"] = "5000", ["__range"] = "1m" };
            var failures = new List<string>();
            foreach (var v in dashboard.Variables())
            {
                var m = System.Text.RegularExpressions.Regex.Match(v.Query, @"^label_values\((.+),\s*(\w+)\)$");
                Assert.True(m.Success, $"variable {v.Name}: the test reads label_values(metric, label) only: {v.Query}");
                var options = GrafanaDashboard.FilterValues(await prometheus.LabelValuesAsync(m.Groups[2].Value, m.Groups[1].Value), v.Regex);
                output.WriteLine($"variable {v.Name}: {v.Query} -> [{string.Join(", ", options)}]");
                if (options.Count == 0) { failures.Add($"variable {v.Name}: no value from {v.Query}"); continue; }
                values[v.Name] = v.Multi ? GrafanaDashboard.PromRegexValue(options) : options[0];
            }
            Assert.True(failures.Count == 0, string.Join("\n", failures));

            var queries = dashboard.Queries().ToList();
            Assert.NotEmpty(queries);
            foreach (var query in queries)
            {
                Assert.Null(query.Repeat);
                var expr = GrafanaDashboard.Interpolate(query.Text, values, query.Where);
                JsonElement result;
                try { result = await prometheus.QueryAsync(expr); }
                catch (ServerHarnessException e) { failures.Add($"{query.Where}: {e.Message}"); continue; }
                output.WriteLine($"{query.Where}: {expr} -> {result.GetArrayLength()} series");
                if (result.GetArrayLength() == 0) failures.Add($"{query.Where}: empty result for {expr}");
            }
            Assert.True(failures.Count == 0, $"{failures.Count} of {queries.Count} expressions failed:\n" + string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 20));

            // The data dashboard's tier for a range: the finest with at most 1 000 windows in it, else the coarsest.
            var resolution = GrafanaDashboard.Load("ingest-data.json").Variables().Single(v => v.Name == "resolution");
            var inner = System.Text.RegularExpressions.Regex.Match(resolution.Query, @"^query_result\((.+)\)$");
            Assert.True(inner.Success, $"variable resolution: the test reads query_result(expr) only: {resolution.Query}");
            foreach (var (rangeSeconds, expected) in new[] { (6 * 3600L, "1m"), (30 * 86400L, "1h"), (3650 * 86400L, "1h"), (16 * 3600L, "1m"), (17 * 3600L, "1h") })
            {
                var expr = GrafanaDashboard.Interpolate(inner.Groups[1].Value, new Dictionary<string, string> { ["__range_s"] = rangeSeconds.ToString(CultureInfo.InvariantCulture) }, "variable resolution");
                var result = await prometheus.QueryAsync(expr);
                // Grafana's query_result gives each series as text, {label="value",…} value time, which the regex reads.
                var texts = result.EnumerateArray().Select(r => "{" + string.Join(",", r.GetProperty("metric").EnumerateObject().Select(l => $"{l.Name}=\"{l.Value.GetString()}\"")) + "} "
                    + r.GetProperty("value")[1].GetString()).ToList();
                var picked = GrafanaDashboard.FilterValues(texts, resolution.Regex);
                output.WriteLine($"variable resolution over {rangeSeconds} s: {expr} -> [{string.Join(", ", picked)}]");
                Assert.True(picked.SequenceEqual([expected]), $"variable resolution over {rangeSeconds} s: [{string.Join(", ", picked)}], expected {expected}; answers: {string.Join(" | ", texts)}");
            }
        }
        finally
        {
            stop.Cancel();
            await load;
        }
    }

    private static int FreeUdpPort()
    {
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
    }
}
