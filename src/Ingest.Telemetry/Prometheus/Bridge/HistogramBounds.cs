using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Bridge;

internal static class HistogramBounds
{
    /// <summary>
    /// Bucket bounds in the Prometheus base unit: advice bounds are in the instrument's unit and are converted
    /// like the measurements; the defaults are already in base units. Non-finite, repeated or out-of-order advice
    /// entries are skipped because <c>le</c> must ascend; +Inf is added by prometheus-net.
    /// </summary>
    public static double[] For(Instrument instrument, UnitScale scale, IReadOnlyList<double> defaults)
    {
        var advice = Advice(instrument);
        if (advice is null) return defaults.ToArray();
        var bounds = new List<double>();
        double last = double.NegativeInfinity;
        foreach (double b in advice)
        {
            if (!double.IsFinite(b) || b <= last) continue;
            last = b;
            bounds.Add(scale.Apply(b));
        }
        return bounds.Count > 0 ? bounds.ToArray() : defaults.ToArray();
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
