namespace Ingest.Transforms.Downsample;

/// <summary>
/// One downsampling tier: which points it takes, the window length, the aggregates it writes and where.
/// Immutable; checked by <see cref="DownsampleOptions.Validate"/>.
/// </summary>
public sealed record DownsampleTier
{
    /// <summary>Default aggregates: everything except the percentiles, which cost a sketch per field and window.</summary>
    public static readonly IReadOnlyList<string> DefaultAggregates = ["mean", "min", "max", "sum", "count", "first", "last"];

    /// <summary>Tier name (<c>1m</c>); appended to the measurement as <c>m_1m</c>. Letters, digits, '_', '-', '.'.</summary>
    public string Name { get; init; } = "";

    /// <summary>Window length. Windows are tumbling and aligned to the Unix epoch.</summary>
    public TimeSpan Interval { get; init; }

    /// <summary>Glob patterns (<c>*</c>, <c>?</c>) on the unescaped measurement name; a point matching any is taken.</summary>
    public IReadOnlyList<string> Measurements { get; init; } = ["*"];

    /// <summary>Glob patterns on the unescaped field key; only numeric fields matching one are aggregated.</summary>
    public IReadOnlyList<string> Fields { get; init; } = ["*"];

    /// <summary>Aggregates to write: <c>mean, min, max, sum, count, first, last, p50, p90, p95, p99</c>.</summary>
    public IReadOnlyList<string> Aggregates { get; init; } = DefaultAggregates;

    /// <summary>
    /// How long after a window's end it keeps accepting points (and re-emitting corrected values), measured on
    /// the tier's watermark. Default zero: the window is final when first emitted. Must be zero with
    /// <see cref="Source"/>, whose windows inherit the source's lateness.
    /// </summary>
    public TimeSpan AllowedLateness { get; init; }

    /// <summary>Retention policy the tier's output is written to; null or empty means the database's default.</summary>
    public string? RetentionPolicy { get; init; }

    /// <summary>
    /// Name of a finer tier, listed earlier, whose final window states are merged into this tier's windows
    /// instead of aggregating raw points. The interval must be a multiple of the source's.
    /// </summary>
    public string? Source { get; init; }
}
