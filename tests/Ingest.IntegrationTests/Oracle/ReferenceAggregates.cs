using System.Globalization;
using System.Text;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>
/// A plain C# computation of what downsampling should write, from the generated points, used only to check the
/// oracle itself: InfluxDB's GROUP BY answers must equal it (percentiles as InfluxQL's nearest rank,
/// <c>v[int(n·p/100 + 0.5) - 1]</c>), and lines rendered from it must compare equal through <see cref="DownsampleOracle"/>.
/// </summary>
public static class ReferenceAggregates
{
    public static WindowSet Compute(IEnumerable<RawPoint> points, string measurement, TimeSpan interval)
    {
        long len = interval.Ticks * 100;
        var result = new WindowSet();
        var groups = points.Where(p => p.Series.Measurement == measurement)
            .GroupBy(p => new WindowKey(measurement, p.Series.CanonicalTags, p.Timestamp - Mod(p.Timestamp, len)));
        foreach (var g in groups)
        {
            var ordered = g.OrderBy(p => p.Timestamp).ToList();
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var field in ordered.SelectMany(p => p.Fields).Where(f => f.Field.IsNumeric).Select(f => f.Field.Name).Distinct())
            {
                var v = ordered.Select(p => p.Numeric(field)).Where(x => x is not null).Select(x => x!.Value).ToList();
                var sorted = v.OrderBy(x => x).ToList();
                double sum = 0;
                foreach (var x in v) sum += x;
                values[field + "_mean"] = sum / v.Count;
                values[field + "_min"] = sorted[0];
                values[field + "_max"] = sorted[^1];
                values[field + "_sum"] = sum;
                values[field + "_count"] = v.Count;
                values[field + "_first"] = v[0];
                values[field + "_last"] = v[^1];
                foreach (var p in new[] { 50, 90, 95, 99 })
                {
                    long rank = Math.Clamp((long)(v.Count * p / 100.0 + 0.5) - 1, 0, v.Count - 1);
                    values[field + "_p" + p] = sorted[(int)rank];
                }
            }
            if (values.Count > 0) result[g.Key] = values;
        }
        return result;
    }

    /// <summary>The windows as the daemon would write them: <c>m_tier,tags f_mean=…,f_count=…i … start</c>.</summary>
    public static IEnumerable<string> Lines(WindowSet windows, string tier)
    {
        foreach (var (key, values) in windows)
        {
            var sb = new StringBuilder(LineEscape.Measurement(key.Measurement + "_" + tier));
            if (key.Tags.Length > 0) sb.Append(',').Append(key.Tags); // already escaped and sorted
            sb.Append(' ').Append(string.Join(",", values.Select(v => LineEscape.Key(v.Key) + "=" + (v.Key.EndsWith("_count", StringComparison.Ordinal)
                ? ((long)v.Value).ToString(CultureInfo.InvariantCulture) + "i"
                : v.Value.ToString("R", CultureInfo.InvariantCulture)))));
            sb.Append(' ').Append(key.Start.ToString(CultureInfo.InvariantCulture));
            yield return sb.ToString();
        }
    }

    private static long Mod(long a, long m) => ((a % m) + m) % m;
}
