using Ingest.Sinks.Redis;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Health;

/// <summary>Probes InfluxDB (<c>/ping</c>) and Redis (<c>PING</c>) every few seconds for <c>/ready</c>.</summary>
public sealed partial class DependencyProbe(
    InfluxClient influx,
    RedisConnection redis,
    ReadinessState readiness,
    ILogger<DependencyProbe> logger) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FastPeriod = TimeSpan.FromMilliseconds(250);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await ProbeInfluxAsync(stoppingToken).ConfigureAwait(false);
            await ProbeRedisAsync().ConfigureAwait(false);
            // Until InfluxDB has answered once the daemon is not ready, so look often.
            var wait = readiness.Influx.EverUp ? Period : FastPeriod;
            try
            {
                await Task.Delay(wait, stoppingToken).ConfigureAwait(false);
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

    private bool _loggedInfluxDown;

    private async Task ProbeRedisAsync()
    {
        if (readiness.Redis is not { } health) return;
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

    [LoggerMessage(Level = LogLevel.Information, Message = "{Dependency} at {Endpoint} is reachable")]
    private partial void LogUp(string dependency, string endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Dependency} at {Endpoint} is unreachable: {Error}")]
    private partial void LogDown(string dependency, string endpoint, string error);
}
