using System.Text.RegularExpressions;
using Ingest.Configuration;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sinks.Redis;

/// <summary>
/// The daemon's one connection to Redis, shared by everything that talks to it (readiness probe, alert
/// state, live state, status). Connecting never fails the caller for a server that is down: the multiplexer
/// keeps reconnecting.
/// </summary>
public sealed partial class RedisConnection(IngestOptions options, ILoggerFactory? loggerFactory = null) : IDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);

    /// <summary>The Redis settings, key names included.</summary>
    public RedisOptions Settings => options.Redis;
    private ConnectionMultiplexer? _multiplexer;

    /// <summary>
    /// The client lost a connection to Redis (the multiplexer's own event, passed on). Subscribe once, at any time:
    /// unlike the multiplexer, this object exists before the first connection.
    /// </summary>
    public event EventHandler<ConnectionFailedEventArgs>? ConnectionFailed;

    /// <summary>The client restored a connection to Redis: the server may have restarted and lost what it held.</summary>
    public event EventHandler<ConnectionFailedEventArgs>? ConnectionRestored;

    public async Task<ConnectionMultiplexer> GetAsync()
    {
        if (_multiplexer is { } ready) return ready;
        await _connecting.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_multiplexer is null)
            {
                var config = Options(options.Redis.Configuration);
                config.LoggerFactory = loggerFactory;
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
                multiplexer.ConnectionFailed += (_, e) => ConnectionFailed?.Invoke(this, e);
                multiplexer.ConnectionRestored += (_, e) => ConnectionRestored?.Invoke(this, e);
                _multiplexer = multiplexer;
            }
            return _multiplexer;
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>
    /// The client's options for <c>Redis:Configuration</c>, with what the daemon's guarantees need on top of it
    /// (see README, "Redis:Configuration"). Throws <see cref="ConfigurationError"/> naming the key for a string the
    /// client does not take, so a bad one stops the start instead of the first Redis call.
    /// </summary>
    public static ConfigurationOptions Options(string configuration)
    {
        ConfigurationOptions config;
        try
        {
            config = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationError("Redis:Configuration", Redact(configuration), e.Message);
        }
        if (config.EndPoints.Count == 0)
            throw new ConfigurationError("Redis:Configuration", Redact(configuration), "names no server (host:port)");
        // A server that is down at start is not an error: the multiplexer connects once it answers.
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = 2000;
        // Nothing waits on Redis: while it is away, commands fail at once rather than queue (the client's default
        // since 2.x holds them until reconnected, for up to the async timeout), and the live state is written whole
        // once it is back instead.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        return config;
    }

    /// <summary>The configuration string with passwords masked, for error messages.</summary>
    internal static string Redact(string configuration) => Password().Replace(configuration, "$1=***");

    [GeneratedRegex("((?:sentinelPassword|password))=[^,]*", RegexOptions.IgnoreCase)]
    private static partial Regex Password();

    public void Dispose()
    {
        _multiplexer?.Dispose();
        _connecting.Dispose();
    }
}
