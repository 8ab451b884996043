namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// One influxd and one redis-server shared by every test class in the "servers" collection.
/// Tests that stop or kill a server must create a private instance instead
/// (<see cref="InfluxServer.StartNewAsync"/>, <see cref="RedisServer.StartNewAsync"/>).
/// Shared data outlives single tests: use a unique database name / key prefix per test (<see cref="UniqueName"/>).
/// </summary>
public sealed class ServersFixture : IAsyncLifetime
{
    public InfluxServer Influx { get; private set; } = null!;
    public RedisServer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var influx = InfluxServer.StartNewAsync();
        var redis = RedisServer.StartNewAsync();
        try
        {
            await Task.WhenAll(influx, redis);
        }
        catch
        {
            if (influx.IsCompletedSuccessfully) await influx.Result.DisposeAsync();
            if (redis.IsCompletedSuccessfully) await redis.Result.DisposeAsync();
            throw;
        }
        Influx = influx.Result;
        Redis = redis.Result;
    }

    public async Task DisposeAsync()
    {
        if (Influx is not null) await Influx.DisposeAsync();
        if (Redis is not null) await Redis.DisposeAsync();
    }

    /// <summary>A name unique to this call, e.g. <c>UniqueName("db")</c> → <c>db_3f2a…</c>.</summary>
    public static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}

/// <summary>Put <c>[Collection(ServersCollection.Name)]</c> on a test class and take <see cref="ServersFixture"/> in its constructor.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "servers";
}
