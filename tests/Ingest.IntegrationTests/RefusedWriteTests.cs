using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>Nothing refused is kept: a write answered 503 leaves no trace that a crash and restart could bring back.</summary>
public class RefusedWriteTests
{
    private const long T0 = 1_767_225_600_000_000_000;

    [Fact]
    public async Task A_write_refused_for_a_full_buffer_is_in_neither_InfluxDB_nor_a_window_after_kill_9()
    {
        // InfluxDB out of reach first, so that nothing leaves the buffer: 100 points fill it.
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Buffer:Capacity"] = "100",
            ["Influx:BatchSize"] = "100",
            ["Buffer:FullWaitTimeout"] = "200ms",
            // A window of every series and minute, counting its points: a replayed refused write would show in one.
            ["Downsample:Tiers:0:Name"] = "1m",
            ["Downsample:Tiers:0:Interval"] = "1m",
            ["Downsample:Tiers:0:Measurements:0"] = "*",
            ["Downsample:Tiers:0:Fields:0"] = "*",
            ["Downsample:Tiers:0:Aggregates:0"] = "count",
            ["Downsample:Tiers:0:RetentionPolicy"] = "",
        });
        var db = ServersFixture.UniqueName("refused");
        await DaemonApi.WriteAsync(stack, db, Enumerable.Range(0, 100).Select(i => $"kept,n=a v={i}i {T0 + i}"), perRequest: 100);

        var refused = string.Join('\n', Enumerable.Range(0, 50).Select(i => $"refused,n=b v={i}i {T0 + i}")) + "\n";
        using (var answer = await stack.Client.PostAsync($"write?db={db}", new StringContent(refused, Encoding.UTF8, "text/plain")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
            Assert.True(answer.Headers.RetryAfter is not null, "503 without Retry-After");
        }

        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");
        var logStart = stack.Daemon.Output.Length;
        stack.Daemon.Set("Influx:Url", stack.Influx.Url);
        await stack.Daemon.StartAgainAsync();

        // The start replays before it answers: what it replayed is the accepted write alone.
        var restart = stack.Daemon.Output[logStart..];
        var replayed = Regex.Match(restart, @"Replayed (\d+) write-ahead log records \((\d+) points\)");
        Assert.True(replayed.Success, "no replay in the restart's log:\n" + restart);
        Assert.Equal("100", replayed.Groups[2].Value);

        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, "kept", "v") == 100, TimeSpan.FromSeconds(30)),
            "the accepted points did not all land after the restart\n" + DaemonApi.Tail(stack));
        // Everything replayed has landed by now (the buffer is empty), so the refused points are not on their way.
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_buffer_points") == 0, TimeSpan.FromSeconds(30)),
            "the buffer never emptied\n" + DaemonApi.Tail(stack));
        Assert.Equal(0, await DaemonApi.CountAsync(stack.Influx, db, "refused", "v"));

        // The windows rebuilt from the log hold the accepted points only.
        await DaemonApi.FlushAsync(stack);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, "kept_1m", "v_count") == 1, TimeSpan.FromSeconds(30)),
            "the accepted points' window did not land\n" + DaemonApi.Tail(stack));
        var counted = await InfluxRows.QueryAsync(stack.Influx, db, "SELECT sum(v_count) FROM kept_1m");
        Assert.Equal(100, counted.Sum(s => s.Values.Sum(r => (long)(InfluxRows.Number(r[1]) ?? 0))));
        // The same flush, the same database, one ordered derived sink: a window of the refused points would have
        // landed with (or before) the accepted one.
        Assert.Equal(0, await DaemonApi.CountAsync(stack.Influx, db, "refused_1m", "v_count"));
    }
}
