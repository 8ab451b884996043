using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Sources;
using Microsoft.Extensions.Configuration;

namespace Ingest.Tests.Sources;

/// <summary>A nats source's keys as the daemon reads them at start: its delivery, its default full-policy, its errors.</summary>
public class NatsSettingsTests
{
    private static IReadOnlyList<SourceOptions> Read(params (string Key, string Value)[] keys) =>
        SourcesReader.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(keys.Select(k => new KeyValuePair<string, string?>("Sources:" + k.Key, k.Value)))
            .Build());

    [Fact]
    public void Core_subjects_are_read_at_most_once_and_drop_the_oldest_by_default()
    {
        var source = Assert.Single(Read(("nodes:Type", "nats"), ("nodes:Subjects:0", "node.*.metrics")));
        Assert.Equal(FullPolicy.DropOldest, source.FullPolicy);
    }

    [Fact]
    public void A_JetStream_consumer_is_read_at_least_once_and_backpressures_by_default()
    {
        var source = Assert.Single(Read(("meters:Type", "nats"), ("meters:JetStream:Stream", "METERS"), ("meters:JetStream:Durable", "ingest")));
        Assert.Equal(FullPolicy.Backpressure, source.FullPolicy);
    }

    [Fact]
    public void A_JetStream_consumer_refuses_a_policy_that_drops()
    {
        var error = Assert.Throws<ConfigurationError>(() => Read(("meters:Type", "nats"), ("meters:JetStream:Stream", "METERS"),
            ("meters:JetStream:Durable", "ingest"), ("meters:FullPolicy", "drop-oldest")));
        Assert.Contains("Sources:meters:FullPolicy", error.Message);
        Assert.Contains("drop-oldest", error.Message);
    }

    [Theory]
    [InlineData("Url", "http://127.0.0.1:4222", "Sources:s:Url")]
    [InlineData("Bogus", "1", "Sources:s:Bogus")]
    [InlineData("User", "ingest", "Sources:s:Password")]
    public void A_bad_key_is_named_with_its_value(string key, string value, string named)
    {
        var error = Assert.Throws<ConfigurationError>(() => Read(("s:Type", "nats"), ("s:Subjects:0", "a.b"), ("s:" + key, value)));
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void An_unknown_type_names_the_known_ones()
    {
        var error = Assert.Throws<ConfigurationError>(() => Read(("s:Type", "kafka")));
        Assert.Contains("Sources:s:Type", error.Message);
        Assert.Contains("kafka", error.Message);
        Assert.Contains("nats", error.Message);
    }
}
