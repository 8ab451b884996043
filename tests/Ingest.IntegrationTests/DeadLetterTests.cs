using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// A target InfluxDB keeps failing slows only itself, and its points end in the dead letter, from where they are
/// replayed once the target is mended. Each test has a private influxd, since some restart it.
/// </summary>
public class DeadLetterTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string> Settings(InfluxServer influx, int afterAttempts) => new()
    {
        ["Influx:Url"] = influx.Url,
        ["Influx:BatchSize"] = "100",
        ["Influx:FlushInterval"] = "50ms",
        ["Influx:RetryInitialDelay"] = "20ms",
        ["Influx:RetryMaxDelay"] = "200ms",
        ["DeadLetter:AfterAttempts"] = afterAttempts.ToString(CultureInfo.InvariantCulture),
        ["DeadLetter:AfterAge"] = "1h",
    };

    /// <summary>Bodies of 100 points of <c>m,host=hN v=N</c>, one per second from <paramref name="start"/>.</summary>
    private static List<string> Bodies(int bodies, DateTimeOffset start, int first = 0) =>
        Enumerable.Range(0, bodies).Select(b => string.Join('\n', Enumerable.Range(first + b * 100, 100)
            .Select(i => $"m,host=h{i % 7} v={i}i {start.AddSeconds(i).ToUnixTimeMilliseconds() * 1_000_000}"))).ToList();

    private static async Task WriteAllAsync(HttpClient client, string db, IEnumerable<string> bodies, string rp = "")
    {
        foreach (var body in bodies)
        {
            using var r = await client.PostAsync($"write?db={db}{(rp.Length > 0 ? "&rp=" + rp : "")}", new StringContent(body));
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        }
    }

    private static async Task<long> WaitForCount(InfluxServer influx, string db, long expected)
    {
        long count = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < Patience)
        {
            try
            {
                count = await influx.CountAsync(db, "m");
                if (count >= expected) return count;
            }
            catch (InfluxQueryException)
            {
                // the database may not exist yet
            }
            await Task.Delay(100);
        }
        return count;
    }

    private static List<string> SetAsideLines(string directory) =>
        !Directory.Exists(directory) ? []
            : Directory.EnumerateFiles(directory, "*.lp")
                .SelectMany(f => File.ReadAllLines(f))
                .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

    private static async Task<List<string>> WaitForSetAside(string directory, int expected)
    {
        var sw = Stopwatch.StartNew();
        List<string> lines;
        while ((lines = SetAsideLines(directory)).Count < expected && sw.Elapsed < Patience) await Task.Delay(100);
        return lines;
    }

    private static async Task<JsonElement> Target(DaemonProcess daemon, string db)
    {
        using var status = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status"));
        return status.RootElement.GetProperty("sinks").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "influx")
            .GetProperty("targets").EnumerateArray().Single(t => t.GetProperty("database").GetString() == db).Clone();
    }

    private static async Task<(int Code, string Output)> ReplayAsync(DaemonProcess daemon)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { DaemonProcess.DaemonDll, "replay-dead-letters", "--url", daemon.Url.ToString(), "--dir", daemon.DeadLetterDirectory })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(Patience);
        return (p.ExitCode, await output + await error);
    }

    [Fact]
    public async Task A_database_whose_shard_cannot_be_opened_is_set_aside_while_another_keeps_landing_then_replayed()
    {
        await using var influx = await InfluxServer.StartNewAsync();
        var week = new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
        // The field test's way to break a shard: influxd stores a measurement name that is not UTF-8 and, once
        // restarted, cannot open the shard holding it; every write to that shard's week then gets a 500.
        await influx.CreateDatabaseAsync("broken");
        var t0 = week.ToUnixTimeMilliseconds() * 1_000_000;
        await influx.WriteAsync("broken", $"ok v=1i {t0}");
        var poison = Encoding.UTF8.GetBytes($"ok v=2i {t0 + 1}\nutf").Concat(new byte[] { 0xff, 0xfe }).Concat(Encoding.UTF8.GetBytes($",t=a v=1 {t0}\n")).ToArray();
        using (var r = await influx.Http.PostAsync("/write?db=broken", new ByteArrayContent(poison)))
            Assert.True(r.StatusCode == HttpStatusCode.NoContent, $"influxd did not take the poison: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        await influx.StopAsync();
        await influx.StartAsync();
        using (var probe = await influx.Http.PostAsync("/write?db=broken", new StringContent($"m v=0i {week.AddSeconds(1).ToUnixTimeMilliseconds() * 1_000_000}")))
            Assert.True(probe.StatusCode == HttpStatusCode.InternalServerError, $"influxd did not break the shard: {probe.StatusCode} {await probe.Content.ReadAsStringAsync()}");

        var deadLetter = Path.Combine(Path.GetTempPath(), $"ingest-test-dl-{Guid.NewGuid():N}");
        var wal = Path.Combine(Path.GetTempPath(), $"ingest-test-wal-{Guid.NewGuid():N}");
        try
        {
            // First with no dead-letter limit in reach: the broken database's writes are retried for as long as
            // the test runs, and must not keep the healthy database's writes from landing.
            var settings = Settings(influx, afterAttempts: 1_000_000);
            settings["DeadLetter:Directory"] = deadLetter;
            settings["Wal:Directory"] = wal;
            await using (var daemon = await DaemonProcess.StartAsync(settings))
            {
                await WriteAllAsync(daemon.Client, "broken", Bodies(10, week.AddMinutes(1)));
                var now = DateTimeOffset.UtcNow.AddHours(-1);
                await WriteAllAsync(daemon.Client, "healthy", Bodies(20, now));
                Assert.Equal(2000, await WaitForCount(influx, "healthy", 2000));

                var broken = await Target(daemon, "broken");
                Assert.Equal("failing", broken.GetProperty("state").GetString());
                Assert.Contains("invalid UTF-8", broken.GetProperty("lastError").GetString());
                Assert.Empty(SetAsideLines(deadLetter));
                // A crash: the broken database's points are still in the write-ahead log.
                daemon.Kill();
                Assert.True(await daemon.WaitForExitAsync());
            }

            // Restarted with a low limit: the replayed points fail twice, are bisected, and set aside.
            settings["DeadLetter:AfterAttempts"] = "2";
            await using (var daemon = await DaemonProcess.StartAsync(settings))
            {
                var lines = await WaitForSetAside(deadLetter, 1000);
                Assert.Equal(1000, lines.Count);
                Assert.Equal(1000, lines.Distinct().Count());
                Assert.All(lines, l => Assert.StartsWith("m,host=h", l));
                var metrics = await daemon.Client.GetStringAsync("metrics");
                Assert.Contains("ingest_sink_points_dead_lettered_total{reason=\"failing\",sink=\"influx\"} 1000", metrics);
                using (var status = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status")))
                    Assert.Equal(1000, status.RootElement.GetProperty("deadLetter").GetProperty("pointsSinceStart").GetInt64());

                // Mended by dropping the broken shard's database; the replay goes through the daemon.
                await influx.QueryAsync("", "DROP DATABASE broken");
                var (code, output) = await ReplayAsync(daemon);
                Assert.True(code == 0, output);
                Assert.Contains("1000 points", output);
                Assert.Equal(1000, await WaitForCount(influx, "broken", 1000));
                Assert.Empty(Directory.EnumerateFiles(deadLetter, "*.lp"));
                Assert.NotEmpty(Directory.EnumerateFiles(deadLetter, "*.replayed"));
            }
        }
        finally
        {
            if (Directory.Exists(deadLetter)) Directory.Delete(deadLetter, recursive: true);
            if (Directory.Exists(wal)) Directory.Delete(wal, recursive: true);
        }
    }

    private static async Task<long> WaitForCountIn(InfluxServer influx, string db, string from, long expected)
    {
        long count = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < Patience)
        {
            var r = (await influx.QueryAsync(db, $"SELECT count(v) FROM {from}")).GetProperty("results")[0];
            count = r.TryGetProperty("series", out var series) ? series[0].GetProperty("values")[0][1].GetInt64() : 0;
            if (count >= expected) break;
            await Task.Delay(100);
        }
        return count;
    }

    [Fact]
    public async Task Points_for_a_retention_policy_dropped_mid_run_are_set_aside_and_the_other_target_keeps_landing()
    {
        await using var influx = await InfluxServer.StartNewAsync();
        await influx.CreateDatabaseAsync("shortlived");
        await influx.QueryAsync("", "CREATE RETENTION POLICY brief ON shortlived DURATION 30d REPLICATION 1");
        await using var daemon = await DaemonProcess.StartAsync(Settings(influx, afterAttempts: 3));
        var start = DateTimeOffset.UtcNow.AddHours(-2);

        await WriteAllAsync(daemon.Client, "shortlived", Bodies(2, start), rp: "brief");
        Assert.Equal(200, await WaitForCountIn(influx, "shortlived", "brief.m", 200));

        await influx.QueryAsync("", "DROP RETENTION POLICY brief ON shortlived");
        await WriteAllAsync(daemon.Client, "shortlived", Bodies(3, start, first: 200), rp: "brief");
        await WriteAllAsync(daemon.Client, "other", Bodies(10, start));

        Assert.Equal(1000, await WaitForCount(influx, "other", 1000));
        var lines = await WaitForSetAside(daemon.DeadLetterDirectory, 300);
        Assert.Equal(300, lines.Count);
        var header = File.ReadLines(Directory.EnumerateFiles(daemon.DeadLetterDirectory, "*.lp").Single()).First();
        Assert.Contains("\"reason\":\"retention_policy_not_found\"", header);
        Assert.Contains("\"retentionPolicy\":\"brief\"", header);

        await influx.QueryAsync("", "CREATE RETENTION POLICY brief ON shortlived DURATION 30d REPLICATION 1");
        var (code, output) = await ReplayAsync(daemon);
        Assert.True(code == 0, output);
        Assert.Equal(300, await WaitForCountIn(influx, "shortlived", "brief.m", 300));
    }
}
