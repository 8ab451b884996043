using System.Diagnostics;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// <c>/ready</c> follows a real redis-server that is stopped and started again: <c>down</c> with no detail while
/// it is away, and <c>up</c> soon after it answers again.
/// </summary>
[Collection(ServersCollection.Name)]
public class RedisReadinessTests(ServersFixture servers)
{
    /// <summary>
    /// Most time from redis-server answering PING again to <c>/ready</c> showing it up. By design it takes the
    /// client's reconnect, then at once the probe (woken by the client's connection-restored event, else within its
    /// 250 ms period while down). The client (StackExchange.Redis, default reconnect policy with the daemon's
    /// 2 s connect timeout) tries again on its 1 s heartbeat once 1 s has passed since its last try: at most about
    /// 2 s (measured here: 1.0 to 1.9 s). The bound leaves about 1 s for a loaded machine, and the clock starts when
    /// redis answers, not at a sleep. The daemon used to probe every 5 s whatever the state (measured: 4.9 s).
    /// </summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);

    /// <summary>Rounds of stop and start: by chance, a 5 s period meets the bound in one round, rarely in all.</summary>
    private const int Rounds = 3;

    private static async Task<JsonElement> RedisOnReadyAsync(DaemonProcess daemon)
    {
        using var r = await daemon.Client.GetAsync("ready");
        using var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("dependencies").GetProperty("redis").Clone();
    }

    /// <summary>Polls <c>/ready</c> every 20 ms until Redis has <paramref name="status"/>; returns it then, or fails after <paramref name="timeout"/>.</summary>
    private static async Task<JsonElement> WaitForRedisAsync(DaemonProcess daemon, string status, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        JsonElement redis;
        while ((redis = await RedisOnReadyAsync(daemon)).GetProperty("status").GetString() != status)
        {
            Assert.True(sw.Elapsed < timeout, $"/ready did not show Redis {status} within {timeout.TotalSeconds:0} s: {redis}\n{daemon.Output}");
            await Task.Delay(20);
        }
        return redis;
    }

    [Fact]
    public async Task Ready_shows_Redis_up_within_the_bound_after_it_answers_PING_again()
    {
        await using var redis = await RedisServer.StartNewAsync();
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = servers.Influx.Url,
            ["Redis:Configuration"] = redis.ConnectionString,
        });
        await WaitForRedisAsync(daemon, "up", TimeSpan.FromSeconds(15));

        var took = new List<TimeSpan>();
        for (var round = 0; round < Rounds; round++)
        {
            await redis.StopAsync();
            await WaitForRedisAsync(daemon, "down", TimeSpan.FromSeconds(15));
            // StartAsync returns once redis-server answers PING (it asks every 50 ms): the clock starts then.
            await redis.StartAsync();
            var sw = Stopwatch.StartNew();
            var up = await WaitForRedisAsync(daemon, "up", TimeSpan.FromSeconds(15));
            took.Add(sw.Elapsed);
            Assert.StartsWith("ping ", up.GetProperty("detail").GetString());
        }
        Assert.True(took.All(t => t < Bound),
            $"from redis-server answering PING to /ready showing it up took {string.Join(", ", took.Select(t => $"{t.TotalSeconds:0.00} s"))}; each should be under {Bound.TotalSeconds} s");
    }
}
