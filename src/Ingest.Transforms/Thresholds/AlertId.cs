using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// The id of a rule on a series of a database: the series hash function over <c>rule LF database LF series-key</c>,
/// as 16 hex digits. Stable across runs and machines, so acknowledgements and stored state line up.
/// </summary>
public static class AlertId
{
    public static string Compute(string rule, string database, string seriesKey)
    {
        var bytes = Encoding.UTF8.GetBytes(rule + "\n" + database + "\n" + seriesKey);
        return SeriesKeyHash.Compute(bytes).ToString("x16");
    }
}
