using System.Text.Json;
using Ingest.LineProtocol;
using Ingest.Sinks.Feed;
using Ingest.Transforms.Thresholds;

namespace Ingest.Tests;

/// <summary>
/// The JSON of an active alert (<c>GET /api/alerts</c>, the feed's alerts snapshot) and of an alert event (the
/// feed's updates): what names the alert is written alike in both.
/// </summary>
public class FeedJsonTests
{
    private static readonly DecodedTag[] Tags = [new("dc", "x"), new("host", "a")];

    private static JsonElement Parse(Action<Utf8JsonWriter> write) => JsonDocument.Parse(FeedJson.Json(write)).RootElement.Clone();

    private static ActiveAlert Active(double value = 95, string? by = null, DateTimeOffset? at = null) =>
        new("0123456789abcdef", "hot", "metrics", "cpu,dc=x,host=a", "cpu", Tags, "usage", AlertLevel.Crit, 1_000, value, by, at);

    [Fact]
    public void An_active_alert_has_the_events_names_with_its_state_in_place_of_the_transition()
    {
        var active = Parse(w => FeedJson.WriteActive(w, Active()));
        var e = Parse(w => FeedJson.WriteAlert(w, new AlertEvent("0123456789abcdef", "hot", "metrics", "cpu,dc=x,host=a", "cpu", Tags, "usage",
            AlertLevel.Ok, AlertLevel.Crit, AlertReason.Threshold, 95, 1_000, "cpu usage on dc=x,host=a is 95, above 90 (CRIT)")));

        Assert.Equal(JsonValueKind.Object, active.GetProperty("tags").ValueKind);
        Assert.Equal("""{"dc":"x","host":"a"}""", active.GetProperty("tags").GetRawText());
        foreach (var name in new[] { "id", "rule", "database", "seriesKey", "measurement", "tags", "field", "level", "value" })
            Assert.True(JsonElement.DeepEquals(e.GetProperty(name), active.GetProperty(name)), $"{name}: event {e.GetProperty(name)}, active {active.GetProperty(name)}");
        Assert.Equal(1_000, active.GetProperty("since").GetInt64());
        Assert.Equal(["acknowledgedAt", "acknowledgedBy", "since"],
            active.EnumerateObject().Select(p => p.Name).Except(e.EnumerateObject().Select(p => p.Name)).Order(StringComparer.Ordinal));
        Assert.Equal(JsonValueKind.Null, active.GetProperty("acknowledgedBy").ValueKind);
        Assert.Equal(JsonValueKind.Null, active.GetProperty("acknowledgedAt").ValueKind);
    }

    [Fact]
    public void An_acknowledgement_is_written_as_the_api_always_wrote_it_and_a_value_that_is_no_number_is_left_out()
    {
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);
        var active = Parse(w => FeedJson.WriteActive(w, Active(double.NaN, "ops", at)));

        Assert.Equal("ops", active.GetProperty("acknowledgedBy").GetString());
        // As System.Text.Json serializes a DateTimeOffset, which is how the endpoint answered before.
        Assert.Equal(JsonSerializer.Serialize(at), active.GetProperty("acknowledgedAt").GetRawText());
        Assert.False(active.TryGetProperty("value", out _));
    }
}
