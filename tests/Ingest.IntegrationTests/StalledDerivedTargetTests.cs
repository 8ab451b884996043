using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The downsampled windows' InfluxDB target hangs (every write to its retention policy is held unanswered by a
/// proxy in front of the real influxd): raw points must keep landing at their own pace.
/// </summary>
public class StalledDerivedTargetTests
{
    private const long Minute = 60_000_000_000, T0 = 1_767_225_600_000_000_000;
    private const int Series = 300;

    [Fact]
    public async Task Raw_points_keep_landing_while_the_windows_target_hangs()
    {
        await using var proxy = await StallingProxy.StartAsync(r => r.Path == "/write" && r.Query["rp"] == "stalled");
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = proxy.Url,
            // Windows close as soon as event time passes them, so each new minute of points emits the last one's.
            ["Downsample:Tiers:0:Name"] = "1m",
            ["Downsample:Tiers:0:Interval"] = "1m",
            ["Downsample:Tiers:0:Measurements:0"] = "win",
            ["Downsample:Tiers:0:Fields:0"] = "*",
            ["Downsample:Tiers:0:Aggregates:0"] = "count",
            ["Downsample:Tiers:0:AllowedLateness"] = "0s",
            ["Downsample:Tiers:0:RetentionPolicy"] = "stalled",
            // A derived queue that a few minutes of windows fill, so that the windows wait on it.
            ["Pipeline:DerivedQueueCapacity"] = "50",
        });
        proxy.Upstream = new Uri(stack.Influx.Url);
        var db = ServersFixture.UniqueName("stalled");

        // Four minutes of points: the windows of the first three go out, the sink's write hangs, its queue fills, and
        // the windows stop on the next ones they emit.
        for (var m = 0; m < 4; m++)
            await DaemonApi.WriteAsync(stack, db, Enumerable.Range(0, Series).Select(h => $"win,host=h{h} v={m}i {T0 + m * Minute + h}"), perRequest: Series);
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(proxy.Stalled > 0), TimeSpan.FromSeconds(30)),
            "no write of windows reached the stalled target\n" + DaemonApi.Tail(stack));
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Daemon.MetricAsync("ingest_stage_queue_points{stage=\"influx_derived\"}") > 0,
            TimeSpan.FromSeconds(30)), "the derived queue never filled\n" + DaemonApi.Tail(stack));

        // Raw points written now land although the windows are stuck behind the hung target.
        var raw = Enumerable.Range(0, 20_000).Select(i => $"rawpts,host=h{i % 100} v={i}i {T0 + 10 * Minute + i}");
        await DaemonApi.WriteAsync(stack, db, raw, perRequest: 1_000);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await DaemonApi.CountAsync(stack.Influx, db, "rawpts", "v") == 20_000, TimeSpan.FromSeconds(60)),
            $"raw points stopped landing while the windows' target hung ({await DaemonApi.CountAsync(stack.Influx, db, "rawpts", "v")} of 20000)\n" + DaemonApi.Tail(stack));
        Assert.True(await stack.Daemon.MetricAsync("ingest_stage_queue_points{stage=\"downsample\"}") > 0,
            "the windows were not behind: the test did not stall them\n" + DaemonApi.Tail(stack));
        Assert.Equal(Series * 4, await DaemonApi.CountAsync(stack.Influx, db, "win", "v"));
    }
}
