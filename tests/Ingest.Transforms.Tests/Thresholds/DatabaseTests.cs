using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

/// <summary>A series key written to two databases is two series: each has its own state, id and destination.</summary>
public class DatabaseTests
{
    private static string Line(double value, double seconds, string series = DefaultSeries) =>
        $"{series} usage={value} {Ns(seconds)}";

    [Fact]
    public void The_same_series_in_two_databases_keeps_two_states()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        var prod = h.FeedTo("prod", "", Line(95, 0));
        // Staging's quiet value neither clears prod's alert nor is judged against prod's state.
        Assert.Empty(h.FeedTo("staging", "", Line(50, 1)));
        var staging = h.FeedTo("staging", "", Line(97, 2));

        var p = Assert.Single(prod);
        var s = Assert.Single(staging);
        Assert.Equal(("prod", "OK>CRIT"), (p.Database, Transitions([p])[0]));
        Assert.Equal(("staging", "OK>CRIT"), (s.Database, Transitions([s])[0]));
        Assert.Equal(AlertId.Compute("cpu_high", "prod", DefaultSeries), p.AlertId);
        Assert.Equal(AlertId.Compute("cpu_high", "staging", DefaultSeries), s.AlertId);
        Assert.NotEqual(p.AlertId, s.AlertId);

        Assert.Equal(["CRIT>OK"], Transitions(h.FeedTo("prod", "", Line(10, 3))));
        var active = Assert.Single(h.Engine.ActiveAlerts);
        Assert.Equal(("staging", s.AlertId), (active.Database, active.Id));
    }

    [Fact]
    public void A_no_data_event_goes_to_the_silent_series_database_and_retention_policy()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { NoDataTimeout = TimeSpan.FromSeconds(60) });
        h.FeedTo("prod", "week", Line(50, 0));
        h.FeedTo("prod", "", Line(50, 0, "cpu,host=b"));
        // Noticed while a batch of another database and policy is evaluated.
        var events = h.FeedTo("staging", "", Line(50, 100, "cpu,host=c"));

        Assert.Equal(
            new[] { ("prod", "", "cpu,host=b"), ("prod", "week", "cpu,host=a") }.Order().ToArray(),
            events.Where(e => e.Reason == AlertReason.NoData).Select(e => (e.Database, e.RetentionPolicy, e.SeriesKey)).Order().ToArray());
    }

    [Fact]
    public void A_threshold_event_carries_the_retention_policy_of_the_point_that_caused_it()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.FeedTo("prod", "week", Line(50, 0));
        var e = Assert.Single(h.FeedTo("prod", "month", Line(95, 1)));
        Assert.Equal(("prod", "month"), (e.Database, e.RetentionPolicy));
    }

    [Fact]
    public void A_restored_state_belongs_to_its_database_only()
    {
        var before = new ThresholdHarness(Rules.Above(crit: 90));
        before.FeedTo("prod", "", Line(95, 0));
        var snapshot = ThresholdSnapshotJson.Deserialize(ThresholdSnapshotJson.Serialize(before.Engine.Export()));
        Assert.Equal("prod", Assert.Single(snapshot.States).Database);

        var after = new ThresholdHarness(new ThresholdCheck([Rules.Above(crit: 90)]));
        after.Engine.Import(snapshot);
        Assert.Equal("prod", Assert.Single(after.Engine.ActiveAlerts).Database);
        Assert.Empty(after.FeedTo("staging", "", Line(50, 1)));
        Assert.Equal(["CRIT>OK"], Transitions(after.FeedTo("prod", "", Line(50, 1))));
    }
}
