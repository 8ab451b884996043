using Ingest.Transforms.Tests.Thresholds.Support;
using Ingest.Transforms.Thresholds;
using static Ingest.Transforms.Tests.Thresholds.Support.ThresholdHarness;

namespace Ingest.Transforms.Tests.Thresholds;

/// <summary>
/// A configuration reload: <c>Reconfigure</c> gives a new engine that carries on for the rules that stayed as the old
/// one would have, keeps levels of changed rules and judges them by their new settings, and forgets removed rules.
/// </summary>
public class ReconfigureTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);

    private static ThresholdRule Other => new()
    {
        Name = "mem_high",
        Measurement = "mem",
        Field = "used",
        Crit = 90,
    };

    private static ThresholdHarness Reconfigure(ThresholdHarness before, out RuleChanges changes, params ThresholdRule[] rules) =>
        new(before.Engine.Reconfigure(rules, out changes));

    private static ThresholdHarness Reconfigure(ThresholdHarness before, params ThresholdRule[] rules) => Reconfigure(before, out _, rules);

    /// <summary>Everything an event says, as one string: a mismatch shows which part differs.</summary>
    private static string[] Describe(IEnumerable<AlertEvent> events) =>
        events.Select(e => $"{e.AlertId} {e.Rule} {e.Database} {e.SeriesKey} {e.Previous}>{e.Level} {e.Reason} {e.Value} {e.Timestamp} {e.RetentionPolicy} {e.Message}").ToArray();

    [Fact]
    public void Unchanged_rule_keeps_pending_For_progress_and_fires_where_an_engine_never_reconfigured_fires()
    {
        var rule = Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(10) };
        var plain = new ThresholdHarness(rule);
        var reloaded = new ThresholdHarness(rule);
        foreach (var h in new[] { plain, reloaded })
        {
            h.At(0, 95);
            h.At(5, 95);
        }
        var after = Reconfigure(reloaded, out var changes, rule, Other);
        Assert.Equal(new[] { "cpu_high" }, changes.Unchanged);
        Assert.Equal(new[] { "mem_high" }, changes.Added);

        Assert.Empty(after.At(9.999, 95));
        plain.At(9.999, 95);
        var fired = after.At(10, 95);
        Assert.Equal(["OK>CRIT"], Transitions(fired));
        Assert.Equal(Ns(10), fired[0].Timestamp);
        Assert.Equal(Describe(plain.At(10, 95)), Describe(fired));
    }

    [Fact]
    public void Unchanged_rule_keeps_the_keep_firing_countdown()
    {
        var rule = Rules.Above(crit: 90) with { KeepFiringFor = TimeSpan.FromSeconds(30) };
        var plain = new ThresholdHarness(rule);
        var reloaded = new ThresholdHarness(rule);
        foreach (var h in new[] { plain, reloaded })
        {
            h.At(0, 95);
            h.At(10, 50); // the countdown starts: CRIT until 40
        }
        var after = Reconfigure(reloaded, rule, Other);
        Assert.Equal(AlertLevel.Crit, Assert.Single(after.Engine.ActiveAlerts).Level);
        Assert.Empty(after.At(39, 50));
        Assert.Empty(plain.At(39, 50));
        var dropped = after.At(40, 50);
        Assert.Equal(["CRIT>OK"], Transitions(dropped));
        Assert.Equal(Describe(plain.At(40, 50)), Describe(dropped));
    }

    [Fact]
    public void Acknowledgement_is_kept_by_unchanged_and_changed_rules()
    {
        var high = Rules.Above(crit: 90);
        var low = Rules.Below(crit: 10);
        var h = new ThresholdHarness(high, low);
        var a = Assert.Single(h.At(1, 95, "cpu,host=a"));
        var b = Assert.Single(h.At(1, 5, "cpu,host=b"));
        Assert.True(h.Engine.Acknowledge(a.AlertId, "alice", When));
        Assert.True(h.Engine.Acknowledge(b.AlertId, "bob", When));

        var after = Reconfigure(h, out var changes, high, low with { Crit = 20 });
        Assert.Equal(new[] { "cpu_high" }, changes.Unchanged);
        Assert.Equal(new[] { "cpu_low" }, changes.Changed);
        var active = after.Engine.ActiveAlerts.ToDictionary(x => x.Id);
        Assert.Equal(("alice", (DateTimeOffset?)When, AlertLevel.Crit, Ns(1)), (active[a.AlertId].AcknowledgedBy, active[a.AlertId].AcknowledgedAt, active[a.AlertId].Level, active[a.AlertId].Since));
        Assert.Equal(("bob", (DateTimeOffset?)When, AlertLevel.Crit, Ns(1)), (active[b.AlertId].AcknowledgedBy, active[b.AlertId].AcknowledgedAt, active[b.AlertId].Level, active[b.AlertId].Since));
        // Still acknowledged while the level holds; a transition clears it as usual.
        Assert.Empty(after.At(2, 96, "cpu,host=a"));
        Assert.Equal("alice", after.Engine.ActiveAlerts.Single(x => x.Id == a.AlertId).AcknowledgedBy);
    }

    [Fact]
    public void Changed_rule_keeps_the_level_and_judges_the_next_point_by_its_new_settings()
    {
        var h = new ThresholdHarness(Rules.Above(warn: 70, crit: 90));
        h.At(1, 95, "cpu,host=a");
        h.At(1, 95, "cpu,host=b");

        var after = Reconfigure(h, out var changes, Rules.Above(warn: 70, crit: 99));
        Assert.Equal(new[] { "cpu_high" }, changes.Changed);
        Assert.Empty(changes.Unchanged);
        Assert.Equal([AlertLevel.Crit, AlertLevel.Crit], after.Engine.ActiveAlerts.Select(x => x.Level));
        // 95 is no longer CRIT under the new level: a normal transition at the next point.
        var events = after.At(2, 95, "cpu,host=a");
        Assert.Equal(["CRIT>WARN"], Transitions(events));
        Assert.Equal(AlertReason.Threshold, events[0].Reason);
        Assert.Equal(Ns(2), events[0].Timestamp);
        // Still above the new CRIT: nothing happens, and the level keeps its start.
        Assert.Empty(after.At(2, 99.5, "cpu,host=b"));
        Assert.Equal(Ns(1), after.Engine.ActiveAlerts.Single(x => x.SeriesKey == "cpu,host=b").Since);
    }

    [Fact]
    public void Changed_rule_forgets_pending_For_progress_and_keep_firing_countdowns()
    {
        var rule = Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(10), KeepFiringFor = TimeSpan.FromSeconds(30) };
        var h = new ThresholdHarness(rule);
        h.At(0, 95, "cpu,host=a");   // pending since 0
        h.At(0, 95, "cpu,host=b");
        h.At(10, 95, "cpu,host=b");  // CRIT
        h.At(20, 50, "cpu,host=b");  // keep firing until 50

        var after = Reconfigure(h, rule with { Crit = 91 });
        // Pending progress restarts at the first point after the reload: 12 + 10.
        Assert.Empty(after.At(12, 95, "cpu,host=a"));
        Assert.Empty(after.At(21.9, 95, "cpu,host=a"));
        Assert.Equal(["OK>CRIT"], Transitions(after.At(22, 95, "cpu,host=a")));
        // The countdown restarts too: from 25, so CRIT holds until 55.
        Assert.Empty(after.At(25, 50, "cpu,host=b"));
        Assert.Empty(after.At(50, 50, "cpu,host=b"));
        Assert.Equal(["CRIT>OK"], Transitions(after.At(55, 50, "cpu,host=b")));
    }

    [Fact]
    public void Changed_tag_matchers_forget_series_no_longer_matched()
    {
        var rule = Rules.Above(crit: 90);
        var h = new ThresholdHarness(rule);
        h.At(1, 95, "cpu,host=a");
        h.At(1, 95, "cpu,host=b");
        var after = Reconfigure(h, rule with { Tags = [TagMatcher.Parse("host", "!b")] });
        Assert.Equal(["cpu,host=a"], after.Engine.ActiveAlerts.Select(x => x.SeriesKey));
        Assert.Empty(after.At(2, 99, "cpu,host=b"));
        Assert.Equal(1, after.Engine.Counters.States);
    }

    [Fact]
    public void Tag_matchers_are_compared_element_by_element()
    {
        var rule = Rules.Above(crit: 90) with { Tags = [new TagMatcher("host", "a*"), TagMatcher.Parse("dc", "!test")] };
        var copy = rule with { Tags = [new TagMatcher("host", "a*"), TagMatcher.Parse("dc", "!test")] };
        Assert.NotEqual(rule, copy); // the record compares the lists by reference
        var engine = new ThresholdCheck([rule]);
        engine.Reconfigure([copy], out var same);
        Assert.Equal(new[] { "cpu_high" }, same.Unchanged);
        new ThresholdCheck([rule]).Reconfigure([rule with { Tags = [new TagMatcher("host", "a*"), TagMatcher.Parse("dc", "test")] }], out var negation);
        Assert.Equal(new[] { "cpu_high" }, negation.Changed);
        new ThresholdCheck([rule]).Reconfigure([rule with { Tags = [new TagMatcher("host", "a*")] }], out var fewer);
        Assert.Equal(new[] { "cpu_high" }, fewer.Changed);
        new ThresholdCheck([rule]).Reconfigure([rule with { NoDataTimeout = TimeSpan.FromMinutes(1) }], out var timeout);
        Assert.Equal(new[] { "cpu_high" }, timeout.Changed);
    }

    [Fact]
    public void Removed_rule_is_forgotten_and_an_added_rule_starts_at_OK_for_series_already_known()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(1, 95, "cpu,host=a");
        h.At(1, 50, "cpu,host=b");
        h.At(1, 50, "mem,host=a", "used"); // of a measurement without rules yet: not remembered

        var after = Reconfigure(h, out var changes, Rules.Below(crit: 10), Other);
        Assert.Equal(new[] { "cpu_low", "mem_high" }, changes.Added);
        Assert.Equal((2, 2), (after.Engine.Counters.Series, after.Engine.Counters.States)); // cpu_low on host=a and host=b
        Assert.Equal(new[] { "cpu_high" }, changes.Removed);
        Assert.Empty(after.Engine.ActiveAlerts);
        Assert.Empty(after.At(2, 95, "cpu,host=a")); // the removed rule is gone
        var low = after.At(3, 5, "cpu,host=b");
        Assert.Equal(["OK>CRIT"], Transitions(low));
        Assert.Equal(AlertId.Compute("cpu_low", "", "cpu,host=b"), low[0].AlertId);
        Assert.Equal(["OK>CRIT"], Transitions(after.At(3, 95, "mem,host=a", "used")));
        Assert.Equal(["OK>CRIT"], Transitions(after.At(3, 95, "mem,host=c", "used")));
        Assert.Equal(4, after.Engine.Counters.Series);
        Assert.Equal(4, after.Engine.Counters.States);
    }

    [Fact]
    public void Series_known_before_keep_their_database_and_retention_policy()
    {
        var rule = Rules.Above(crit: 90);
        var h = new ThresholdHarness(rule);
        h.FeedTo("prod", "week", $"cpu,host=a usage=50 {Ns(1)}");
        h.FeedTo("staging", "", $"cpu,host=a usage=50 {Ns(1)}");
        var after = Reconfigure(h, rule, Other);
        Assert.Equal(2, after.Engine.Counters.Series);
        var events = new List<AlertEvent>();
        var batch = Batch([$"cpu,host=a usage=95 {Ns(2)}"]);
        batch.Database = "prod";
        batch.RetentionPolicy = "week";
        after.Engine.Process(batch, events);
        var e = Assert.Single(events);
        Assert.Equal(("prod", "week", AlertId.Compute("cpu_high", "prod", "cpu,host=a")), (e.Database, e.RetentionPolicy, e.AlertId));
        Assert.Equal(2, after.Engine.Counters.Series);
    }

    [Fact]
    public void A_silent_series_goes_NODATA_at_the_same_event_time_as_without_the_reconfigure()
    {
        var rule = Rules.Above(crit: 90) with { NoDataTimeout = TimeSpan.FromSeconds(60) };
        var plain = new ThresholdHarness(rule);
        var reloaded = new ThresholdHarness(rule);
        foreach (var h in new[] { plain, reloaded })
        {
            h.At(0, 95, "cpu,host=a");
            h.At(30, 50, "cpu,host=b");
        }
        var after = Reconfigure(reloaded, rule, Other);
        Assert.Equal(Ns(30), after.Engine.Watermark);
        Assert.Empty(after.At(60, 50, "cpu,host=b"));
        Assert.Empty(plain.At(60, 50, "cpu,host=b"));
        var silent = after.At(75, 50, "cpu,host=b");
        Assert.Equal(["CRIT>NODATA"], Transitions(silent));
        Assert.Equal(Ns(60), silent[0].Timestamp);
        Assert.Equal(Describe(plain.At(75, 50, "cpu,host=b")), Describe(silent));
        // And by the watermark alone, with no point at all.
        Assert.Equal(Describe(plain.Advance(200)), Describe(after.Advance(200)));
    }

    [Fact]
    public void Counters_carry_over()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90));
        h.At(10, 95);
        h.At(5, 95);
        h.Feed($"cpu,host=a usage=\"x\" {Ns(11)}");
        var before = h.Engine.Counters;
        var after = Reconfigure(h, Rules.Above(crit: 80), Other).Engine.Counters;
        Assert.Equal(before, after);
        Assert.Equal((3, 1, 1, 1, 1), (after.Points, after.Evaluations, after.Transitions, after.OutOfOrderIgnored, after.NonNumericIgnored));
    }

    [Fact]
    public void States_not_yet_taken_stay_dirty_and_taken_ones_stay_clean()
    {
        var rule = Rules.Above(crit: 90);
        var h = new ThresholdHarness(rule, Rules.Below(crit: 10));
        h.At(1, 95, "cpu,host=a");
        h.Engine.TakeDirty(new List<AlertStateRecord>());
        h.At(2, 95, "cpu,host=b");
        h.At(3, 5, "cpu,host=c");

        var after = Reconfigure(h, rule, Other);
        var dirty = new List<AlertStateRecord>();
        after.Engine.TakeDirty(dirty);
        // host=c's only non-OK state was of the removed rule; its cpu_high state was evaluated and stays dirty.
        Assert.Equal(["cpu,host=b", "cpu,host=c"], dirty.Select(r => r.SeriesKey));
        Assert.All(dirty, r => Assert.Equal("cpu_high", r.Rule));
        Assert.Equal(AlertLevel.Crit, dirty[0].Level);
        Assert.Equal(Ns(2), dirty[0].LastEvaluated);
        dirty.Clear();
        Assert.Equal(0, after.Engine.TakeDirty(dirty));
    }

    [Fact]
    public void Invalid_rules_are_refused_and_the_engine_goes_on_unchanged()
    {
        var h = new ThresholdHarness(Rules.Above(crit: 90) with { For = TimeSpan.FromSeconds(10) });
        h.At(0, 95);
        Assert.Throws<InvalidThresholdRulesException>(() => h.Engine.Reconfigure([Rules.Above(warn: 95, crit: 90)], out _));
        Assert.Throws<InvalidThresholdRulesException>(() => h.Engine.Reconfigure([Rules.Above(crit: 90), Rules.Above(crit: 80)], out _));
        Assert.Equal(["OK>CRIT"], Transitions(h.At(10, 95)));
    }
}
