using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// Every family of the README's Metrics table, with its type, on the live <c>/metrics</c> of a real daemon, in
/// the text format (checked by promtool) and in OpenMetrics (checked by the Python client's strict parser).
/// The table is read from README.md itself, so a renamed metric fails here until the README says so.
/// The daemon is driven until every documented family has something to show: good and bad writes, a threshold
/// crossing, a point InfluxDB refuses, and an InfluxDB outage that makes the sink retry.
/// </summary>
public partial class MetricsGoldenTests
{
    private const string OpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// <summary>Counts exceptions thrown inside a stage of the graph, which nothing from outside can cause.</summary>
    private static readonly string[] NotProvokable = ["ingest_stage_errors_total"];

    [Fact]
    public async Task Every_family_of_the_README_table_is_served_with_its_type_in_text_and_OpenMetrics()
    {
        // A configured source (ingest_source_*): a UDP listener on a port free for UDP.
        int udpPort;
        using (var probe = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)))
            udpPort = ((System.Net.IPEndPoint)probe.Client.LocalEndPoint!).Port;
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Sources:udp:Type"] = "udp",
            ["Sources:udp:Listen"] = $"127.0.0.1:{udpPort}",
            ["Thresholds:Rules:0:Name"] = "cpu_high",
            ["Thresholds:Rules:0:Measurement"] = "cpu",
            ["Thresholds:Rules:0:Field"] = "usage",
            ["Thresholds:Rules:0:Warn"] = "80",
            // Room for the first refused point, not for the second: one is set aside, the other dropped.
            ["DeadLetter:MaxBytes"] = "2048",
            ["Http:BodyReadTimeout"] = "1s",
            // A tier, so that its windows are snapshotted (ingest_downsample_snapshot*).
            ["Downsample:Tiers:0:Name"] = "1m",
            ["Downsample:Tiers:0:Interval"] = "1m",
            ["Downsample:SnapshotInterval"] = "200ms",
        });
        var client = stack.Client;
        var db = ServersFixture.UniqueName("golden");
        long t = 1_767_225_600_000_000_000;
        await WriteAsync(client, db, $"cpu,host=a usage=95 {t}\nm v=1i {t}", HttpStatusCode.NoContent);
        await WriteAsync(client, db, "m v=1i 1\nm v= 2", HttpStatusCode.BadRequest);
        await stack.Influx.WaitForCountAsync(db, "m", 1, TimeSpan.FromSeconds(30));
        // A datagram with a good and a bad line: the source's messages, points and decode errors.
        using (var udp = new System.Net.Sockets.UdpClient())
            await udp.SendAsync(System.Text.Encoding.UTF8.GetBytes($"udp_in v=1 {t}\nnot a line\n"), new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, udpPort));
        await WaitForMetricAsync(client, "ingest_source_decode_errors_total{source=\"udp\"} 1", stack);
        // A field written to InfluxDB directly after the daemon learned the database, then the same field as a
        // string through the daemon: it cannot know, InfluxDB refuses it for good (field type conflict).
        await stack.Influx.WriteAsync(db, $"m u=1i {t}");
        await WriteAsync(client, db, $"m u=\"text\" {t + 1}", HttpStatusCode.NoContent);
        await WaitForMetricAsync(client, "ingest_sink_points_dead_lettered_total{", stack);
        await WaitForMetricAsync(client, "ingest_downsample_snapshots_total{", stack);
        await WriteAsync(client, db, $"m u=\"{new string('x', 3000)}\" {t + 3}", HttpStatusCode.NoContent);
        await WaitForMetricAsync(client, "ingest_sink_points_dropped_total{", stack);
        // A body that stops halfway: refused with 408 once the daemon has waited Http:BodyReadTimeout for the rest.
        var gzip = new MemoryStream();
        using (var z = new System.IO.Compression.GZipStream(gzip, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            z.Write(System.Text.Encoding.UTF8.GetBytes($"m v=9i {t + 9}\n"));
        using (var upload = await SlowUpload.StartAsync(stack.Daemon.Port, gzip.ToArray(), (int)gzip.Length / 2, $"/write?db={db}"))
            Assert.Equal(408, (await upload.AnswerAsync().WaitAsync(TimeSpan.FromSeconds(30))).Status);
        await stack.Influx.StopAsync();
        await WriteAsync(client, db, $"m v=3i {t + 2}", HttpStatusCode.NoContent);
        await WaitForMetricAsync(client, "ingest_sink_retries_total{", stack);
        await stack.Influx.StartAsync();
        await stack.Influx.WaitForCountAsync(db, "m", 2, TimeSpan.FromSeconds(60));

        using var textResponse = await client.GetAsync("metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", textResponse.Content.Headers.ContentType!.ToString());
        var text = await textResponse.Content.ReadAsStringAsync();
        var check = await PromTool.CheckMetricsAsync(text);
        Assert.True(check.ExitCode == 0 && check.StandardError.Trim().Length == 0, check + "\n" + text);

        using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/openmetrics-text"));
        using var openResponse = await client.SendAsync(request);
        Assert.Equal(OpenMetricsContentType, openResponse.Content.Headers.ContentType!.ToString());
        var open = await openResponse.Content.ReadAsStringAsync();
        Assert.EndsWith("\n# EOF\n", open);
        var parsed = OpenMetricsParser.Parse(open);
        Assert.True(parsed.ExitCode == 0, $"OpenMetrics parser: {parsed.Stderr}\n{open}");

        var documented = ReadmeFamilies();
        Assert.True(documented.Count >= 30, $"only {documented.Count} families read from the README table");
        var missing = new List<string>();
        foreach (var (name, type) in documented.Where(f => !NotProvokable.Contains(f.Name)))
        {
            if (name.EndsWith('*') || type.Length == 0)
            {
                var prefix = name.EndsWith('*') ? name[..^1] : name + " ";
                if (!text.Contains("\n# TYPE " + prefix, StringComparison.Ordinal)) missing.Add($"{name}: no family in text");
                if (!open.Contains("\n# TYPE " + prefix, StringComparison.Ordinal)) missing.Add($"{name}: no family in OpenMetrics");
                continue;
            }
            if (!text.Contains($"\n# TYPE {name} {type}\n", StringComparison.Ordinal)) missing.Add($"{name} {type}: not in text");
            // OpenMetrics names a counter family without _total; its samples keep it.
            var family = type == "counter" ? name[..^"_total".Length] : name;
            if (!open.Contains($"\n# TYPE {family} {type}\n", StringComparison.Ordinal)) missing.Add($"{family} {type}: not in OpenMetrics");
            if (!parsed.Stdout.Contains($"{type} {family} ", StringComparison.Ordinal)) missing.Add($"{family} {type}: not parsed from OpenMetrics");
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing) + "\n--- text ---\n" + text);
    }

    /// <summary>(family, type) of every row of the README's Metrics table; wildcard rows ("kestrel_*") keep their "*".</summary>
    public static List<(string Name, string Type)> ReadmeFamilies()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ingest.sln"))) dir = dir.Parent;
        Assert.True(dir is not null, "README.md not found above " + AppContext.BaseDirectory);
        var lines = File.ReadAllLines(Path.Combine(dir!.FullName, "README.md"));
        int start = Array.IndexOf(lines, "## Metrics");
        Assert.True(start >= 0, "no '## Metrics' section in README.md");
        var families = new List<(string, string)>();
        foreach (var line in lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal)))
        {
            if (!line.StartsWith("| `", StringComparison.Ordinal)) continue;
            var cells = line.Split('|');
            var type = cells[2].Trim();
            foreach (Match m in BacktickedName().Matches(cells[1]))
                families.Add((m.Groups[1].Value, type));
        }
        return families;
    }

    [GeneratedRegex("`([a-z_]+\\*?)`")]
    private static partial Regex BacktickedName();

    private static async Task WriteAsync(HttpClient client, string db, string body, HttpStatusCode expected)
    {
        using var response = await client.PostAsync($"write?db={db}", new StringContent(body));
        Assert.True(response.StatusCode == expected, $"write answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task WaitForMetricAsync(HttpClient client, string sample, IngestStack stack)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        string text = "";
        while (DateTime.UtcNow < until)
        {
            text = await client.GetStringAsync("metrics");
            if (text.Contains("\n" + sample, StringComparison.Ordinal)) return;
            await Task.Delay(200);
        }
        Assert.Fail($"no {sample} on /metrics within 60 s\n{text}\n--- daemon ---\n{stack.Daemon.Output}");
    }
}
