namespace Ingest.Transforms.Thresholds;

/// <summary>Engine limits. Immutable.</summary>
public sealed record ThresholdCheckOptions
{
    /// <summary>Default for <see cref="MaxSeries"/>: a few hundred bytes each, so about 60 MB when full.</summary>
    public const int DefaultMaxSeries = 200_000;

    /// <summary>
    /// Most series remembered (matched or not, for any rule of their measurement). Points of further new series
    /// are not evaluated and are counted in <see cref="ThresholdCounters.SeriesOverCapacity"/>: a tag with
    /// unbounded values must not grow the engine without limit.
    /// </summary>
    public int MaxSeries { get; init; } = DefaultMaxSeries;
}
