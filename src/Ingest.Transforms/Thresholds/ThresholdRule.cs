namespace Ingest.Transforms.Thresholds;

/// <summary>Which side of a level is bad.</summary>
public enum ThresholdDirection : byte
{
    /// <summary>Fires when the value is strictly greater than the level; resets when it is at or below the reset.</summary>
    Above,

    /// <summary>Fires when the value is strictly less than the level; resets when it is at or above the reset.</summary>
    Below,
}

/// <summary>
/// One threshold rule, as mapped from <c>Thresholds:Rules:N</c>. Immutable settings: the engine compiles it
/// once and never reads it again on the hot path. Checked by <see cref="ThresholdRuleValidator"/>.
/// </summary>
/// <remarks>
/// Levels: with <see cref="ThresholdDirection.Above"/> a level fires when <c>value &gt; level</c> and, once fired,
/// holds until <c>value &lt;= reset</c>; <see cref="ThresholdDirection.Below"/> mirrors this (<c>value &lt; level</c>,
/// reset when <c>value &gt;= reset</c>). A missing reset equals its level (no hysteresis). Hysteresis applies to
/// every level at or below the fired one: a CRIT series also holds its WARN condition until <see cref="WarnReset"/>.
/// </remarks>
public sealed record ThresholdRule
{
    /// <summary>Unique among the rules; part of the alert id and the <c>rule</c> tag of alert lines.</summary>
    public string Name { get; init; } = "";

    /// <summary>The measurement, unescaped (as a user writes it).</summary>
    public string Measurement { get; init; } = "";

    /// <summary>The field key, unescaped. Strings are ignored; booleans count as 1 and 0; integers as doubles.</summary>
    public string Field { get; init; } = "";

    /// <summary>All must hold for a series to be checked by this rule. Empty: every series of the measurement.</summary>
    public IReadOnlyList<TagMatcher> Tags { get; init; } = [];

    public ThresholdDirection Direction { get; init; } = ThresholdDirection.Above;

    /// <summary>WARN level; absent means the rule never warns.</summary>
    public double? Warn { get; init; }

    /// <summary>CRIT level; absent means the rule never goes critical.</summary>
    public double? Crit { get; init; }

    /// <summary>Where a fired WARN lets go (hysteresis); absent means <see cref="Warn"/> itself.</summary>
    public double? WarnReset { get; init; }

    /// <summary>Where a fired CRIT lets go (hysteresis); absent means <see cref="Crit"/> itself.</summary>
    public double? CritReset { get; init; }

    /// <summary>
    /// How long (event time) a level's condition must hold, per series, before it fires, as Prometheus' <c>for</c>.
    /// Zero fires on the first point. Applies to raising a level only; lowering is immediate (see <see cref="KeepFiringFor"/>).
    /// </summary>
    public TimeSpan For { get; init; }

    /// <summary>How long (event time) a fired level stays after its condition stopped, as Prometheus' <c>keep_firing_for</c>.</summary>
    public TimeSpan KeepFiringFor { get; init; }

    /// <summary>
    /// A series that has no evaluated point for longer than this, measured on the engine's watermark, goes to
    /// <see cref="AlertLevel.NoData"/>. Absent: no-data detection is off for the rule.
    /// </summary>
    public TimeSpan? NoDataTimeout { get; init; }
}
