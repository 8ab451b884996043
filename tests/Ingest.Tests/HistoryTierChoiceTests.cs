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
}
