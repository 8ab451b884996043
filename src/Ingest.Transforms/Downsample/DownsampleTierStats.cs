namespace Ingest.Transforms.Downsample;

/// <summary>
/// A snapshot of one tier's counters (totals since start) and footprint.
/// </summary>
/// <param name="WindowsEmitted">Series windows written for the first time.</param>
/// <param name="WindowsReemitted">Series windows written again with values corrected by late points.</param>
/// <param name="PointsAggregated">Points that added at least one numeric field to a window of this tier.</param>
/// <param name="PointsDroppedLate">
/// Points with a field the tier takes whose window was already closed (reason "late"); the caller still forwards
/// them raw. For a tier fed by a source: values of source windows that reached it after a flush closed the window.
/// </param>
/// <param name="PointsOutOfRange">Points whose window start or end does not fit in a nanosecond <c>long</c>.</param>
/// <param name="ActiveSeries">Series with at least one open window in this tier.</param>
/// <param name="OpenWindows">Open (series, window) pairs.</param>
/// <param name="EstimatedBytes">Memory held by the tier's tables and sketches, not counting the shared key catalog.</param>
/// <param name="Watermark">Largest event time seen by the tier, in ns; <see cref="long.MinValue"/> before any.</param>
public readonly record struct DownsampleTierStats(
    string Name,
    long WindowsEmitted,
    long WindowsReemitted,
    long PointsAggregated,
    long PointsDroppedLate,
    long PointsOutOfRange,
    int ActiveSeries,
    int OpenWindows,
    long EstimatedBytes,
    long Watermark);
