namespace Ingest.Transforms.Thresholds;

/// <summary>
/// The state of one rule on one series. <see cref="Ok"/>, <see cref="Warn"/> and <see cref="Crit"/> are ordered
/// by severity; <see cref="NoData"/> stands apart: the series fell silent, and whatever it was is unknown.
/// </summary>
public enum AlertLevel : byte
{
    Ok = 0,
    Warn = 1,
    Crit = 2,

    /// <summary>
    /// No point for longer than the rule's no-data timeout (a deadman). Active, like WARN and CRIT; the next
    /// point of the series is evaluated afresh and always produces an event out of this state.
    /// </summary>
    NoData = 3,
}

public static class AlertLevelNames
{
    /// <summary>Upper case, for messages: OK, WARN, CRIT, NODATA.</summary>
    public static string Upper(AlertLevel level) => level switch
    {
        AlertLevel.Ok => "OK",
        AlertLevel.Warn => "WARN",
        AlertLevel.Crit => "CRIT",
        _ => "NODATA",
    };

    /// <summary>Lower case, for tags and string fields: ok, warn, crit, nodata.</summary>
    public static string Lower(AlertLevel level) => level switch
    {
        AlertLevel.Ok => "ok",
        AlertLevel.Warn => "warn",
        AlertLevel.Crit => "crit",
        _ => "nodata",
    };
}
