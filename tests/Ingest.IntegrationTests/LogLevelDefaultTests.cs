using System.Net;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The built-in log levels (HttpClient, ASP.NET Core and the Redis client at Warning) hold whatever
/// <c>--config</c> file is given, one without a <c>Logging</c> section included, and a file that sets a level wins.
/// </summary>
[Collection(ServersCollection.Name)]
public class LogLevelDefaultTests(ServersFixture servers)
{
    private static async Task<bool> OutputContains(DaemonProcess daemon, string text) =>
        await DaemonApi.WaitUntilAsync(() => Task.FromResult(daemon.Output.Contains(text, StringComparison.Ordinal)), TimeSpan.FromSeconds(20));

    /// <summary>An operator's config file: InfluxDB and the buffer set, and a Logging section only when <paramref name="logging"/> is given.</summary>
    private string ConfigFile(string? logging = null) =>
        $$"""{ "Influx": { "Url": "{{servers.Influx.Url}}", "FlushInterval": "50ms" }, "Buffer": { "Capacity": 100000 }{{(logging is null ? "" : ", \"Logging\": " + logging)}} }""";

    /// <summary>Writes one point to a new database and waits until InfluxDB holds it: the daemon's HttpClient has sent it by then.</summary>
    private async Task WriteDeliveredAsync(DaemonProcess daemon, string db)
    {
        using (var write = await daemon.Client.PostAsync($"write?db={db}", new StringContent("loglevel v=1 1700000000000000000")))
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
        Assert.Equal(1, await servers.Influx.WaitForCountAsync(db, "loglevel", 1, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_config_file_without_a_Logging_section_does_not_log_each_request_sent_to_InfluxDB()
    {
        var db = ServersFixture.UniqueName("quietfile");
        // No Logging key anywhere: not in the file, not on the command line.
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>(), ConfigFile());
        // Logged once the probe's ping, sent through the same HttpClient, has been answered.
        Assert.True(await OutputContains(daemon, "is reachable"), daemon.Output);
        await WriteDeliveredAsync(daemon, db);

        // The console logger writes in order: once the line about creating a second database (logged after the first
        // point reached InfluxDB) is out, so is every line logged about sending that point, had there been one.
        var after = ServersFixture.UniqueName("quietafter");
        await WriteDeliveredAsync(daemon, after);
        Assert.True(await OutputContains(daemon, $"Created InfluxDB database {after}"), daemon.Output);

        var output = daemon.Output;
        var httpClientLines = output.Split('\n').Where(l => l.Contains("System.Net.Http.HttpClient", StringComparison.Ordinal) || l.Contains("HTTP request", StringComparison.Ordinal)).ToList();
        Assert.True(httpClientLines.Count == 0, $"HttpClient logged requests with a config file without Logging:\n{string.Join('\n', httpClientLines)}\n--- output:\n{output}");
        Assert.Contains($"Created InfluxDB database {db}", output);
    }

    [Fact]
    public async Task A_level_the_config_file_sets_wins_over_the_built_in_one()
    {
        var db = ServersFixture.UniqueName("loudfile");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>(),
            ConfigFile("""{ "LogLevel": { "System.Net.Http.HttpClient": "Information" } }"""));
        await WriteDeliveredAsync(daemon, db);
        // HttpClient leaves the query out of its log lines (?*), so the line names the write endpoint only.
        Assert.True(await OutputContains(daemon, $"Start processing HTTP request POST {servers.Influx.Url.TrimEnd('/')}/write?"),
            "the file sets System.Net.Http.HttpClient to Information, yet no line logs the write sent to InfluxDB:\n" + daemon.Output);
    }
}
