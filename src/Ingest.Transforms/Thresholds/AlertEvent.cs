using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>Why a transition happened.</summary>
public enum AlertReason : byte
{
    /// <summary>A point moved the series across a level (or out of <see cref="AlertLevel.NoData"/>).</summary>
    Threshold,

    /// <summary>The series had no point for longer than the rule's no-data timeout.</summary>
    NoData,
}

/// <summary>
/// One transition of one rule on one series. Only transitions are events: a series that stays CRIT emits nothing.
/// </summary>
/// <param name="AlertId">Stable id of the rule and series: 16 lower-case hex digits, the same across restarts.</param>
/// <param name="Database">The database (v1) or bucket (v2) the series was written to.</param>
/// <param name="SeriesKey">The canonical series key, escaped as on the wire.</param>
/// <param name="Tags">The series' tags, unescaped, sorted by key.</param>
/// <param name="Value">The value that caused the transition; for <see cref="AlertReason.NoData"/>, the last value seen.</param>
/// <param name="Timestamp">Event time in ns: the point's timestamp, or for no-data the moment the timeout ran out.</param>
public sealed record AlertEvent(
    string AlertId,
    string Rule,
    string Database,
    string SeriesKey,
    string Measurement,
    IReadOnlyList<DecodedTag> Tags,
    string Field,
    AlertLevel Previous,
    AlertLevel Level,
    AlertReason Reason,
    double Value,
    long Timestamp,
    string Message)
{
    /// <summary>The retention policy of the series' last evaluated point (empty: the database's default).</summary>
    public string RetentionPolicy { get; init; } = "";
}
