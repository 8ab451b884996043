using Ingest.Api;

namespace Ingest.Tests;

public class HistoryTierChoiceTests
{
    private static readonly DownsampleTierChoice[] Tiers =
    [
        new("1h", TimeSpan.FromHours(1), null), new("1m", TimeSpan.FromMinutes(1), null), new("5m", TimeSpan.FromMinutes(5), null),
    ];

    [Theory]
    [InlineData(30, null)] // half an hour: raw
    [InlineData(60, null)]
    [InlineData(61, "1m")] // just past the raw range: 61 windows of a minute
    [InlineData(1000, "1m")]
    [InlineData(1001, "5m")] // 1 001 minutes: 201 windows of 5m
    [InlineData(5000, "5m")]
    [InlineData(5001, "1h")]
    [InlineData(10_000_000, "1h")] // past every tier's budget: the coarsest
    public void The_finest_tier_that_stays_under_the_window_budget_is_chosen(int minutes, string? expected) =>
        Assert.Equal(expected, HistoryEndpoint.Choose(TimeSpan.FromMinutes(minutes), Tiers)?.Name);

    [Fact]
    public void Without_tiers_it_is_always_raw() => Assert.Null(HistoryEndpoint.Choose(TimeSpan.FromDays(30), []));

    [Theory]
    [InlineData("-15m", 15 * 60)]
    [InlineData("-2h", 2 * 3600)]
    [InlineData("-1d", 86400)]
    public void Relative_times_count_back_from_now(string text, int secondsAgo)
    {
        var now = DateTimeOffset.UnixEpoch.AddDays(20000);
        Assert.True(HistoryEndpoint.TryTime(text, now, now, out var t));
        Assert.Equal(now.AddSeconds(-secondsAgo), t);
    }

    [Theory]
    [InlineData("1700000000")]
    [InlineData("2023-11-14T22:13:20Z")]
    public void Absolute_times_are_unix_seconds_or_rfc3339(string text)
    {
        Assert.True(HistoryEndpoint.TryTime(text, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, out var t));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), t);
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("-5w")]
    public void Other_text_is_not_a_time(string text) => Assert.False(HistoryEndpoint.TryTime(text, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, out _));

    [Theory]
    [InlineData("-NaNd", "is not a time")]
    [InlineData("-Infinityd", "is not a time")]
    [InlineData("--5m", "is not a time")]
    [InlineData("-1e300d", "is outside the times InfluxDB stores")]
    [InlineData("-200000d", "is outside the times InfluxDB stores")]
    [InlineData("99999999999999", "is outside the times InfluxDB stores")]
    [InlineData("9223372037", "is outside the times InfluxDB stores")]
    [InlineData("9999-12-31T00:00:00Z", "is outside the times InfluxDB stores")]
    [InlineData("1677-09-21T00:12:43Z", "is outside the times InfluxDB stores")]
    public void Times_outside_what_InfluxDB_stores_are_refused_with_the_reason(string text, string reason) =>
        Assert.Equal(reason, HistoryEndpoint.ParseTime(text, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, out _)?[..reason.Length]);

    [Theory]
    [InlineData("2262-04-11T23:47:16Z", 9223372036000000000)]
    [InlineData("9223372036", 9223372036000000000)]
    [InlineData("1677-09-21T00:12:44Z", -9223372036000000000)]
    [InlineData("-9223372036", -9223372036000000000)]
    [InlineData("-50", -50_000_000_000)]
    public void The_edges_of_InfluxDB_time_range_are_accepted(string text, long nanoseconds)
    {
        Assert.Null(HistoryEndpoint.ParseTime(text, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, out var t));
        Assert.Equal(nanoseconds, (t - DateTimeOffset.UnixEpoch).Ticks * 100);
    }
}
