using Ingest.Configuration;
using StackExchange.Redis;

namespace Ingest.Sinks.Redis;

/// <summary>
/// The daemon's one connection to Redis, shared by everything that talks to it (readiness probe, alert
/// state). Connecting never fails the caller for a server that is down: the multiplexer keeps reconnecting.
/// </summary>
public sealed class RedisConnection(IngestOptions options) : IDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private ConnectionMultiplexer? _multiplexer;

    public async Task<ConnectionMultiplexer> GetAsync()
    {
        if (_multiplexer is { } ready) return ready;
        await _connecting.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_multiplexer is null)
            {
                var config = ConfigurationOptions.Parse(options.Redis.Configuration);
                config.AbortOnConnectFail = false;
                config.ConnectTimeout = 2000;
                _multiplexer = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
            }
            return _multiplexer;
        }
        finally
        {
            _connecting.Release();
        }
    }

    public void Dispose()
    {
        _multiplexer?.Dispose();
        _connecting.Dispose();
    }
}
