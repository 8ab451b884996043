namespace Ingest.Transforms.Thresholds;

/// <summary>
/// Everything the engine knows about one rule on one series. A struct in one array so that the per-point
/// path touches no objects; <see cref="NoTime"/> marks unset instants.
/// </summary>
internal struct AlertState
{
    public const long NoTime = long.MinValue;

    public int Rule;
    public int Series;
    public AlertLevel Level;
    public long LevelSince;
    public long LastEvaluated;
    public double LastValue;

    /// <summary>Since when the condition for "at least WARN" has held without a break (pending progress).</summary>
    public long WarnSince;

    /// <summary>Since when the condition for CRIT has held without a break (pending progress).</summary>
    public long CritSince;

    /// <summary>When the fired level may drop, once its condition stopped; <see cref="NoTime"/> while it holds.</summary>
    public long KeepFiringUntil;

    public string? AcknowledgedBy;
    public long AcknowledgedAt;
    public bool Dirty;

    public static AlertState New(int rule, int series) => new()
    {
        Rule = rule,
        Series = series,
        Level = AlertLevel.Ok,
        LevelSince = NoTime,
        LastEvaluated = NoTime,
        LastValue = double.NaN,
        WarnSince = NoTime,
        CritSince = NoTime,
        KeepFiringUntil = NoTime,
        AcknowledgedAt = NoTime,
    };
}
