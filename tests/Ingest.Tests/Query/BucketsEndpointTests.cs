namespace Ingest.Tests.Query;

public class BucketsEndpointTests
{
    [Theory]
    [InlineData("0s", 0)]
    [InlineData("168h0m0s", 168 * 3600)]
    [InlineData("1h30m0s", 5400)]
    [InlineData("24h0m0s", 86400)]
    [InlineData("500ms", 0)]
    [InlineData("90s", 90)]
    public void InfluxDBs_durations_become_seconds(string text, long seconds) =>
        Assert.Equal(seconds, Ingest.Sources.Http.Query.BucketsEndpoint.GoDurationSeconds(text));
}
