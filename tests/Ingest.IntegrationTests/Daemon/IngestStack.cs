using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests.Daemon;

/// <summary>A real influxd and redis-server with the daemon in front of them.</summary>
public sealed class IngestStack : IAsyncDisposable
{
    private IngestStack(InfluxServer influx, RedisServer redis, DaemonProcess daemon)
    {
        Influx = influx;
        Redis = redis;
        Daemon = daemon;
    }

    public InfluxServer Influx { get; }
    public RedisServer Redis { get; }
    public DaemonProcess Daemon { get; }
    public HttpClient Client => Daemon.Client;

    /// <param name="settings">On the command line, above the file: a reload cannot change them.</param>
    /// <param name="configJson">The configuration file's content, which a test may change and reload.</param>
    public static async Task<IngestStack> StartAsync(IDictionary<string, string>? settings = null, string configJson = "{}")
    {
        var influxTask = InfluxServer.StartNewAsync();
        var redisTask = RedisServer.StartNewAsync();
        try
        {
            await Task.WhenAll(influxTask, redisTask);
        }
        catch
        {
            // One may have started while the other failed: do not leave it running.
            if (influxTask.IsCompletedSuccessfully) await influxTask.Result.DisposeAsync();
            if (redisTask.IsCompletedSuccessfully) await redisTask.Result.DisposeAsync();
            throw;
        }
        var influx = influxTask.Result;
        var redis = redisTask.Result;
        var all = new Dictionary<string, string>
        {
            ["Influx:Url"] = influx.Url,
            ["Redis:Configuration"] = redis.ConnectionString,
            ["Influx:FlushInterval"] = "100ms",
            ["Influx:RetryInitialDelay"] = "50ms",
            ["Influx:RetryMaxDelay"] = "500ms",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>()) all[k] = v;
        try
        {
            return new IngestStack(influx, redis, await DaemonProcess.StartAsync(all, configJson));
        }
        catch
        {
            await influx.DisposeAsync();
            await redis.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        await Influx.DisposeAsync();
        await Redis.DisposeAsync();
    }
}

/// <summary>One stack shared by the tests of the "stack" collection; they use unique database names.</summary>
public sealed class SharedStackFixture : IAsyncLifetime
{
    public const int MaxBodySize = 1 << 20;
    public IngestStack Stack { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Http:MaxBodySize"] = MaxBodySize.ToString() });

    public async Task DisposeAsync()
    {
        if (Stack is not null) await Stack.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class SharedStackCollection : ICollectionFixture<SharedStackFixture>
{
    public const string Name = "stack";
}
