using Ingest.Configuration;
using Ingest.Health;

namespace Ingest.Tests.Health;

/// <summary>What <c>/ready</c> shows of a dependency: the state of its last probe, nothing left over from an earlier one.</summary>
public class DependencyHealthTests
{
    [Fact]
    public void A_dependency_that_goes_down_does_not_keep_the_last_successful_probes_detail()
    {
        var redis = new ReadinessState(new IngestOptions { Redis = new RedisOptions { Configuration = "127.0.0.1:6379" } }).Redis!;
        redis.Up("ping 0.357 ms");
        var up = redis.State;

        redis.Down("It was not possible to connect to the redis server(s)");

        var down = redis.State;
        Assert.Equal("down", down.Status);
        Assert.Equal("It was not possible to connect to the redis server(s)", down.Error);
        Assert.True(down.Detail is null, $"a down dependency shows detail '{down.Detail}', which the last successful probe measured");
        // When it was last reached is kept, by name.
        Assert.Equal(up.LastUp, down.LastUp);
    }

    [Fact]
    public void Up_again_shows_the_new_probes_detail_and_no_error()
    {
        var influx = new ReadinessState(new IngestOptions()).Influx;
        influx.Up("version 1.8");
        influx.Down("connection refused");
        influx.Up("version 1.9");

        Assert.Equal("up", influx.State.Status);
        Assert.Null(influx.State.Error);
        Assert.Equal("version 1.9", influx.State.Detail);
    }
}
