using System.Text.Json.Serialization;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// The persisted state of one rule on one series: enough to resume exactly, pending <c>For</c> progress and
/// keep-firing deadlines included. Times are event-time nanoseconds since the Unix epoch; null means unset.
/// </summary>
/// <param name="Rule">The rule's name (rules are matched by name on import).</param>
/// <param name="Database">The series' database; null in records written before states were kept per database.</param>
/// <param name="SeriesKey">The canonical series key, escaped as on the wire.</param>
/// <param name="LevelSince">When <paramref name="Level"/> began.</param>
/// <param name="LastEvaluated">The newest point evaluated (the out-of-order and no-data reference).</param>
/// <param name="WarnSince">Since when "at least WARN" has held: pending progress towards WARN.</param>
/// <param name="CritSince">Since when CRIT has held: pending progress towards CRIT.</param>
/// <param name="KeepFiringUntil">When the fired level may drop, if its condition has stopped.</param>
public sealed record AlertStateRecord(
    string Rule,
    string? Database,
    string SeriesKey,
    AlertLevel Level,
    long? LevelSince,
    long? LastEvaluated,
    double? LastValue,
    long? WarnSince,
    long? CritSince,
    long? KeepFiringUntil,
    string? AcknowledgedBy,
    long? AcknowledgedAt)
{
    /// <summary>The id this state answers to (<see cref="AlertId"/>), e.g. as a Redis hash field.</summary>
    [JsonIgnore]
    public string Id => AlertId.Compute(Rule, Database ?? "", SeriesKey);
}

/// <summary>All of an engine's state: the watermark and every state that has seen a value or is not OK.</summary>
public sealed record ThresholdSnapshot(int Version, long Watermark, IReadOnlyList<AlertStateRecord> States)
{
    /// <summary>2: states are kept per database (<see cref="AlertStateRecord.Database"/>).</summary>
    public const int CurrentVersion = 2;
}

/// <summary>What an import did: states restored, and records skipped because their rule is gone or no longer matches.</summary>
public readonly record struct ImportResult(int Restored, int Skipped);
