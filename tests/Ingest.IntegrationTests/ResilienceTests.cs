using System.Net;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>Outages and overload, each on a private stack because they stop servers.</summary>
public class ResilienceTests
{
    private static async Task<(long Count, double Sum)> CountAndSum(InfluxServer influx, string db, string measurement)
    {
        var root = await influx.QueryAsync(db, $"SELECT count(v), sum(v) FROM {measurement}");
        var r = root.GetProperty("results")[0];
        if (!r.TryGetProperty("series", out var s)) return (0, 0);
        var row = s[0].GetProperty("values")[0];
        // influxd just restarted can answer with a null sum, or a null count, for a moment: not there yet, not zero.
        return (row[1].ValueKind == JsonValueKind.Number ? row[1].GetInt64() : -1,
            row[2].ValueKind == JsonValueKind.Number ? row[2].GetDouble() : double.NaN);
    }

    private static async Task WaitForAll(InfluxServer influx, string db, string measurement, long expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await CountAndSum(influx, db, measurement) is var (count, sum) && count >= expected && !double.IsNaN(sum)) return;
            }
            catch (InfluxQueryException)
            {
                // database not created yet
            }
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Every_acknowledged_point_arrives_when_influxd_is_stopped_and_started_during_writes()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Influx:BatchSize"] = "1000" });
        var db = ServersFixture.UniqueName("outage");
        var writer = new LoadWriter(stack.Client, db, "outage", 500);

        using var stop = new CancellationTokenSource();
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 2000 && !stop.IsCancellationRequested; i++)
            {
                await writer.SendBatchAsync();
                await Task.Delay(20);
            }
        });

        await Task.Delay(1500);
        await stack.Influx.StopAsync();
        var ackedBeforeOutage = writer.AcknowledgedPoints;
        await Task.Delay(6000);
        var ackedDuringOutage = writer.AcknowledgedPoints - ackedBeforeOutage;
        await stack.Influx.StartAsync();
        await Task.Delay(1500);
        stop.Cancel();
        await writing;

        Assert.True(ackedDuringOutage > 0, "the daemon kept acknowledging writes while influxd was down");
        Assert.Equal(0, writer.OtherFailures);
        await WaitForAll(stack.Influx, db, "outage", writer.AcknowledgedPoints, TimeSpan.FromSeconds(60));
        var (count, sum) = await CountAndSum(stack.Influx, db, "outage");
        Assert.Equal(writer.AcknowledgedPoints, count);
        Assert.Equal(writer.AcknowledgedSum, sum, 6);

        var metrics = await stack.Client.GetStringAsync("metrics");
        Assert.Contains("ingest_sink_retries_total", metrics);
    }

    [Fact]
    public async Task Full_buffer_answers_503_with_retry_after_and_accepts_again_once_drained()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Buffer:Capacity"] = "2000",
            ["Buffer:FullWaitTimeout"] = "200ms",
            ["Buffer:RetryAfterSeconds"] = "3",
            ["Influx:BatchSize"] = "500",
        });
        var db = ServersFixture.UniqueName("full");
        var writer = new LoadWriter(stack.Client, db, "full", 500);
        await stack.Influx.StopAsync();

        var statuses = new List<int>();
        for (var i = 0; i < 10 && writer.Refused503 == 0; i++) statuses.Add(await writer.SendBatchAsync());
        Assert.Equal(503, statuses[^1]);
        Assert.Equal(2000, writer.AcknowledgedPoints);
        Assert.Equal("3", writer.LastRetryAfter);

        // The refusal is counted, and the buffer reports itself full.
        var metrics = await stack.Client.GetStringAsync("metrics");
        Assert.Contains("ingest_buffer_points 2000", metrics);
        Assert.Matches("ingest_points_rejected_total\\{[^}]*reason=\"buffer_full\"[^}]*\\} 500", metrics);

        await stack.Influx.StartAsync();
        await WaitForAll(stack.Influx, db, "full", 2000, TimeSpan.FromSeconds(60));
        var accepted = 0;
        for (var i = 0; i < 50 && accepted == 0; i++)
        {
            if (await writer.SendBatchAsync() == 204) accepted++;
            else await Task.Delay(200);
        }
        Assert.Equal(1, accepted);
        await WaitForAll(stack.Influx, db, "full", writer.AcknowledgedPoints, TimeSpan.FromSeconds(60));
        var (count, sum) = await CountAndSum(stack.Influx, db, "full");
        Assert.Equal(writer.AcknowledgedPoints, count);
        Assert.Equal(writer.AcknowledgedSum, sum, 6);
    }

    [Fact]
    public async Task Not_ready_until_influxd_has_answered_then_degraded_during_an_outage()
    {
        var influx = await InfluxServer.StartNewAsync();
        await using var _ = influx;
        await influx.StopAsync();
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string> { ["Influx:Url"] = influx.Url });

        using (var r = await daemon.Client.GetAsync("ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            Assert.Equal("not_ready", JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        }

        await influx.StartAsync();
        Assert.Equal("ready", await WaitForReadyStatus(daemon, "ready"));
        await influx.StopAsync();
        Assert.Equal("degraded", await WaitForReadyStatus(daemon, "degraded", TimeSpan.FromSeconds(15)));
        using var still = await daemon.Client.GetAsync("ready");
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    private static async Task<string?> WaitForReadyStatus(DaemonProcess daemon, string wanted, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        string? status = null;
        while (DateTime.UtcNow < deadline)
        {
            using var r = await daemon.Client.GetAsync("ready");
            status = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString();
            if (status == wanted) break;
            await Task.Delay(200);
        }
        return status;
    }

    [Fact]
    public async Task Graceful_stop_delivers_what_is_buffered()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Influx:FlushInterval"] = "30s" });
        var db = ServersFixture.UniqueName("drain");
        var writer = new LoadWriter(stack.Client, db, "drain", 100);
        for (var i = 0; i < 5; i++) Assert.Equal(204, await writer.SendBatchAsync());
        await stack.Daemon.StopAsync();
        var (count, _) = await CountAndSum(stack.Influx, db, "drain");
        Assert.Equal(500, count);
    }
}
