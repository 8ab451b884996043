using Ingest.Sinks.Redis;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Health;

/// <summary>
/// Probes InfluxDB (<c>/ping</c>) and Redis (<c>PING</c>) for <c>/ready</c>, each on its own loop (a slow answer from
/// one never delays the other): every <see cref="UpPeriod"/> while it is up, every <see cref="DownPeriod"/> while
/// it is down or not reached yet, so that its return shows promptly. Redis is also probed at once when the client
/// reports its connection lost or restored.
/// </summary>
public sealed partial class DependencyProbe(
    InfluxClient influx,
    RedisConnection redis,
    ReadinessState readiness,
    ILogger<DependencyProbe> logger) : BackgroundService
{
    /// <summary>Between probes of a dependency that is up.</summary>
    public static readonly TimeSpan UpPeriod = TimeSpan.FromSeconds(5);

    /// <summary>Between probes of a dependency that is down or not reached yet.</summary>
    public static readonly TimeSpan DownPeriod = TimeSpan.FromMilliseconds(250);

    // Released by the Redis client's connection events: the Redis loop probes now instead of at its period. Not
    // disposed (it holds no handle), since the client may still raise an event while it closes after the probe.
    private readonly SemaphoreSlim _redisChanged = new(0, 1);
    private bool _loggedInfluxDown;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        redis.ConnectionFailed += (_, _) => RedisChanged();
        redis.ConnectionRestored += (_, _) => RedisChanged();
        return Task.WhenAll(
            LoopAsync(readiness.Influx, ProbeInfluxAsync, null, stoppingToken),
            readiness.Redis is { } health ? LoopAsync(health, _ => ProbeRedisAsync(health), _redisChanged, stoppingToken) : Task.CompletedTask);
    }

    private static async Task LoopAsync(DependencyHealth health, Func<CancellationToken, Task> probe, SemaphoreSlim? changed, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await probe(stoppingToken).ConfigureAwait(false);
            var wait = health.State.Status == "up" ? UpPeriod : DownPeriod;
            try
            {
                if (changed is null) await Task.Delay(wait, stoppingToken).ConfigureAwait(false);
                else await changed.WaitAsync(wait, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ProbeInfluxAsync(CancellationToken ct)
    {
        var wasUp = readiness.Influx.State.Status == "up";
        var (ok, error, version) = await influx.PingAsync(ct).ConfigureAwait(false);
        if (ok)
        {
            readiness.Influx.Up(version is null ? null : "version " + version);
            if (!wasUp) LogUp("influxdb", readiness.Influx.Endpoint);
        }
        else
        {
            readiness.Influx.Down(error ?? "unreachable");
            if (wasUp || readiness.Influx.State.LastUp is null && !_loggedInfluxDown) LogDown("influxdb", readiness.Influx.Endpoint, error ?? "");
            _loggedInfluxDown = true;
        }
    }

    private async Task ProbeRedisAsync(DependencyHealth health)
    {
        var wasUp = health.State.Status == "up";
        try
        {
            var latency = await (await redis.GetAsync().ConfigureAwait(false)).GetDatabase().PingAsync().ConfigureAwait(false);
            health.Up($"ping {latency.TotalMilliseconds:0.###} ms");
            if (!wasUp) LogUp("redis", health.Endpoint);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or RedisConnectionException)
        {
            health.Down(e.Message);
            if (wasUp) LogDown("redis", health.Endpoint, e.Message);
        }
    }

    /// <summary>Probes Redis as soon as the client has lost or restored a connection.</summary>
    private void RedisChanged()
    {
        try
        {
            _redisChanged.Release();
        }
        catch (SemaphoreFullException)
        {
            // A probe is due already.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Dependency} at {Endpoint} is reachable")]
    private partial void LogUp(string dependency, string endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Dependency} at {Endpoint} is unreachable: {Error}")]
    private partial void LogDown(string dependency, string endpoint, string error);
}
