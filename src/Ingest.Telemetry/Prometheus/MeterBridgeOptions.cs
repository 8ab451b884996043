namespace Ingest.Telemetry.Prometheus;

/// <summary>Settings for <see cref="MeterBridge"/>; validated when the bridge is constructed.</summary>
public sealed class MeterBridgeOptions
{
    public const int DefaultMaxSeriesPerInstrument = 2000;

    /// <summary>
    /// Bucket upper bounds, in seconds, for histograms whose instrument gives no
    /// <c>HistogramBucketBoundaries</c> advice. Measurements are converted to the base unit before they are
    /// observed, so a millisecond histogram gets the same buckets as one in seconds.
    /// </summary>
    public static IReadOnlyList<double> DefaultHistogramBoundariesSeconds { get; } =
        [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    /// <summary>
    /// Meter names to export. An entry ending in <c>*</c> is an ordinal prefix ("Ingest*" matches
    /// "Ingest" and "Ingest.Sinks"); any other entry must equal <see cref="System.Diagnostics.Metrics.Meter.Name"/>.
    /// Empty means nothing is exported.
    /// </summary>
    public IList<string> MeterNames { get; } = new List<string>();

    /// <summary>
    /// Label sets tracked per instrument. Later new label sets are discarded and counted in
    /// <c>ingest_telemetry_series_dropped_total</c>; this bounds memory when a tag value is unbounded
    /// (ids, raw paths). Default <see cref="DefaultMaxSeriesPerInstrument"/>.
    /// </summary>
    public int MaxSeriesPerInstrument { get; set; } = DefaultMaxSeriesPerInstrument;

    /// <summary>Fallback histogram bounds in seconds; default <see cref="DefaultHistogramBoundariesSeconds"/>.</summary>
    public IReadOnlyList<double> DefaultHistogramBoundaries { get; set; } = DefaultHistogramBoundariesSeconds;

    internal void Validate()
    {
        if (MaxSeriesPerInstrument <= 0)
            throw new ArgumentOutOfRangeException(nameof(MaxSeriesPerInstrument), MaxSeriesPerInstrument,
                $"{nameof(MeterBridgeOptions)}.{nameof(MaxSeriesPerInstrument)} must be positive, got {MaxSeriesPerInstrument}.");
        if (DefaultHistogramBoundaries is null)
            throw new ArgumentNullException(nameof(DefaultHistogramBoundaries));
        for (int i = 0; i < DefaultHistogramBoundaries.Count; i++)
        {
            double b = DefaultHistogramBoundaries[i];
            if (double.IsNaN(b) || double.IsInfinity(b) || (i > 0 && b <= DefaultHistogramBoundaries[i - 1]))
                throw new ArgumentException(
                    $"{nameof(MeterBridgeOptions)}.{nameof(DefaultHistogramBoundaries)} must be finite and strictly ascending; entry {i} is {b}.",
                    nameof(DefaultHistogramBoundaries));
        }
        foreach (var name in MeterNames)
        {
            if (string.IsNullOrWhiteSpace(name))
                throw new ArgumentException(
                    $"{nameof(MeterBridgeOptions)}.{nameof(MeterNames)} contains an empty entry.", nameof(MeterNames));
        }
    }
}
