namespace Ingest.Transforms.Downsample;

/// <summary>
/// The aggregates a tier can write, one output field each (<c>f_mean</c>, <c>f_p99</c>, ...). Percentiles come
/// from <see cref="LogSketch"/> and are within its relative error of InfluxQL's nearest-rank <c>percentile()</c>.
/// </summary>
[Flags]
internal enum Aggregates
{
    None = 0,
    Mean = 1 << 0,
    Min = 1 << 1,
    Max = 1 << 2,
    Sum = 1 << 3,
    Count = 1 << 4,
    First = 1 << 5,
    Last = 1 << 6,
    P50 = 1 << 7,
    P90 = 1 << 8,
    P95 = 1 << 9,
    P99 = 1 << 10,

    Percentiles = P50 | P90 | P95 | P99,
    All = Mean | Min | Max | Sum | Count | First | Last | Percentiles,
}

internal static class AggregateNames
{
    // Output order; the names are also the config spelling and the field suffixes.
    internal static readonly (Aggregates Flag, string Name, double Percentile)[] Ordered =
    [
        (Aggregates.Mean, "mean", 0), (Aggregates.Min, "min", 0), (Aggregates.Max, "max", 0),
        (Aggregates.Sum, "sum", 0), (Aggregates.Count, "count", 0), (Aggregates.First, "first", 0),
        (Aggregates.Last, "last", 0), (Aggregates.P50, "p50", 50), (Aggregates.P90, "p90", 90),
        (Aggregates.P95, "p95", 95), (Aggregates.P99, "p99", 99),
    ];

    internal static string Expected => string.Join(", ", Ordered.Select(o => o.Name));

    internal static bool TryParse(string? name, out Aggregates flag)
    {
        foreach (var (f, n, _) in Ordered)
        {
            if (string.Equals(n, name?.Trim(), StringComparison.OrdinalIgnoreCase)) { flag = f; return true; }
        }
        flag = Aggregates.None;
        return false;
    }
}
