namespace Ingest.Transforms.Thresholds;

/// <summary>The engine's counters, as a copy (for the daemon's telemetry to export).</summary>
/// <param name="Points">Points given to <see cref="ThresholdCheck.Process"/>.</param>
/// <param name="Evaluations">Rule-on-point evaluations that ran (a point can feed several rules).</param>
/// <param name="Transitions">Events produced, no-data ones included.</param>
/// <param name="OutOfOrderIgnored">Values older than the last evaluated one of their rule and series.</param>
/// <param name="NonNumericIgnored">Values of the rule's field that were strings or NaN.</param>
/// <param name="SeriesOverCapacity">Points of new series not evaluated because <see cref="ThresholdCheckOptions.MaxSeries"/> was reached.</param>
/// <param name="Series">Series remembered.</param>
/// <param name="States">Rule-and-series states tracked.</param>
/// <param name="Watermark">The largest event time seen (ns), or <see cref="long.MinValue"/> before any.</param>
public readonly record struct ThresholdCounters(
    long Points,
    long Evaluations,
    long Transitions,
    long OutOfOrderIgnored,
    long NonNumericIgnored,
    long SeriesOverCapacity,
    int Series,
    int States,
    long Watermark);
