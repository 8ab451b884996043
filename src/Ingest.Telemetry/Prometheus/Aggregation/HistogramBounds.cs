using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Aggregation;

internal static class HistogramBounds
{
    /// <summary>
    /// Advice bounds are in the instrument's unit and are converted for <c>le</c>; the defaults are in
    /// base units and are converted the other way for comparison, so both print without rounding noise.
    /// Non-finite, repeated or out-of-order advice entries are skipped because <c>le</c> must ascend.
    /// </summary>
    public static (double[] Raw, double[] Exported) For(Instrument instrument, UnitScale scale, IReadOnlyList<double> defaults)
    {
        var advice = Advice(instrument);
        var raw = new List<double>();
        var exported = new List<double>();
        if (advice is not null)
        {
            foreach (double b in advice)
            {
                if (!double.IsFinite(b) || (raw.Count > 0 && b <= raw[^1])) continue;
                raw.Add(b);
                exported.Add(scale.Apply(b));
            }
        }
        else
        {
            foreach (double b in defaults)
            {
                raw.Add(scale.Unapply(b));
                exported.Add(b);
            }
        }
        return (raw.ToArray(), exported.ToArray());
    }

    private static IEnumerable<double>? Advice(Instrument instrument) => instrument switch
    {
        Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
        Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        Histogram<short> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        Histogram<byte> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        Histogram<decimal> h => h.Advice?.HistogramBucketBoundaries?.Select(v => (double)v),
        _ => null,
    };
}
