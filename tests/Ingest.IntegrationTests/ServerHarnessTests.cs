using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>Smoke tests of the real-server fixtures themselves, so a broken harness is not mistaken for a broken daemon.</summary>
[Collection(ServersCollection.Name)]
public sealed class ServerHarnessTests(ServersFixture servers)
{
    [Fact]
    public async Task Influx_write_through_its_own_api_is_counted_by_a_query()
    {
        var db = ServersFixture.UniqueName("harness");
        await servers.Influx.CreateDatabaseAsync(db);

        await servers.Influx.WriteAsync(db, "cpu,host=a usage=1 1000000000\ncpu,host=b usage=2 1000000000\ncpu,host=a usage=3 2000000000");

        Assert.Equal(3, await servers.Influx.CountAsync(db, "cpu"));
        var result = await servers.Influx.QueryAsync(db, "SELECT usage FROM cpu WHERE host = 'a'");
        var values = result.GetProperty("results")[0].GetProperty("series")[0].GetProperty("values");
        Assert.Equal(2, values.GetArrayLength());
        Assert.Equal(1_000_000_000L, values[0][0].GetInt64()); // epoch=ns
    }

    [Fact]
    public async Task Influx_count_is_zero_for_unknown_database_or_measurement()
    {
        Assert.Equal(0, await servers.Influx.CountAsync(ServersFixture.UniqueName("nodb"), "cpu"));
        var db = ServersFixture.UniqueName("harness");
        await servers.Influx.CreateDatabaseAsync(db);
        Assert.Equal(0, await servers.Influx.CountAsync(db, "nothing_here"));
    }

    [Fact]
    public async Task Influx_query_errors_surface_as_exceptions()
    {
        await Assert.ThrowsAsync<InfluxQueryException>(() => servers.Influx.QueryAsync("", "SELEKT nonsense"));
    }

    [Fact]
    public async Task Influx_config_binds_loopback_only()
    {
        var config = await File.ReadAllTextAsync(servers.Influx.ConfigPath);
        var bindLines = config.Split('\n').Where(l => l.Trim().StartsWith("bind-address")).ToList();
        Assert.NotEmpty(bindLines);
        Assert.All(bindLines, l => Assert.Contains("\"127.0.0.1:", l));
        Assert.Contains($"\"127.0.0.1:{servers.Influx.HttpPort}\"", config);
        Assert.Contains($"\"127.0.0.1:{servers.Influx.RpcPort}\"", config);
    }

    [Fact]
    public async Task Influx_stop_and_start_keep_ports_and_data()
    {
        await using var influx = await InfluxServer.StartNewAsync();
        var url = influx.Url;
        await influx.CreateDatabaseAsync("outage");
        await influx.WriteAsync("outage", "m v=1 1\nm v=2 2");

        await influx.StopAsync();
        Assert.False(influx.IsRunning);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => influx.Http.GetAsync("/ping"));

        await influx.StartAsync();
        Assert.Equal(url, influx.Url);
        Assert.Equal(2, await influx.CountAsync("outage", "m"));

        await influx.KillAsync();
        await influx.StartAsync();
        Assert.Equal(2, await influx.CountAsync("outage", "m"));
    }

    [Fact]
    public async Task Redis_answers_ping_and_commands()
    {
        Assert.True(await servers.Redis.PingAsync());
        var key = ServersFixture.UniqueName("harness");
        Assert.Equal(1L, await servers.Redis.CommandAsync("HSET", key, "f", "v"));
        Assert.Equal("v", await servers.Redis.CommandAsync("HGET", key, "f"));
        Assert.Null(await servers.Redis.CommandAsync("GET", key + ":missing"));
        await Assert.ThrowsAsync<RedisErrorException>(() => servers.Redis.CommandAsync("NOSUCHCOMMAND"));
    }

    [Fact]
    public async Task Redis_stop_and_start_keep_the_port()
    {
        await using var redis = await RedisServer.StartNewAsync();
        var connection = redis.ConnectionString;
        await redis.StopAsync();
        Assert.False(await redis.PingAsync());
        await redis.StartAsync();
        Assert.Equal(connection, redis.ConnectionString);
        Assert.True(await redis.PingAsync());
    }

    [Fact]
    public async Task Promtool_accepts_a_valid_exposition()
    {
        const string exposition =
            "# HELP ingest_points_received_total Points accepted by the HTTP source.\n" +
            "# TYPE ingest_points_received_total counter\n" +
            "ingest_points_received_total{source=\"http\"} 42\n";
        var result = await PromTool.CheckMetricsAsync(exposition);
        Assert.True(result.Succeeded, result.ToString());
    }

    [Fact]
    public async Task Promtool_rejects_an_invalid_exposition()
    {
        const string exposition =
            "# TYPE ingest_points counter\n" +
            "ingest_points{source=\"http\" 42\n";
        var result = await PromTool.CheckMetricsAsync(exposition);
        Assert.False(result.Succeeded, result.ToString());
        Assert.NotEqual("", result.StandardError + result.StandardOutput);
    }

    [Fact]
    public void FreePort_hands_out_distinct_bindable_ports()
    {
        var ports = Enumerable.Range(0, 20).Select(_ => FreePort.Next()).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, p => Assert.True(FreePort.CanBind(p)));
    }
}
