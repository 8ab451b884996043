using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ingest.LoadGen;

/// <summary>How a run's landing is dated: see --landed-by.</summary>
public enum LandedBy { Count, Stats, Metric }

/// <summary>
/// A cheap counter of points stored, polled every 20 ms to date the landing; the count queries then only confirm
/// that every point is there, untimed. Polling either counter costs InfluxDB next to nothing, unlike a count()
/// over a million points while they are still being written.
/// </summary>
internal abstract class LandingCounter : IDisposable
{
    protected readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public abstract Task<double> ReadAsync();

    /// <summary>Time on <paramref name="clock"/> when the counter first read at least <paramref name="target"/>; null on timeout.</summary>
    public async Task<TimeSpan?> WaitForAsync(double target, Stopwatch clock, TimeSpan timeout)
    {
        var until = clock.Elapsed + timeout;
        while (clock.Elapsed < until)
        {
            // Dated when the answer came back: the conservative end of the interval in which the last point landed.
            if (await ReadAsync() >= target) return clock.Elapsed;
            await Task.Delay(20);
        }
        return null;
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>The daemon's own count of points InfluxDB acknowledged, from its Prometheus endpoint.</summary>
internal sealed partial class WrittenMetric(string metricsUrl) : LandingCounter
{
    public override async Task<double> ReadAsync()
    {
        var text = await Http.GetStringAsync(metricsUrl);
        var m = Sample().Match(text);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"(?m)^ingest_sink_points_written_total\{[^}]*sink=""influx""[^}]*\} (\S+)$")]
    private static partial Regex Sample();
}

/// <summary>
/// InfluxDB's own statistics: <c>writePointsOk</c> summed over the database's shards (<c>SHOW STATS FOR 'shard'</c>),
/// the points its storage engine took. The same signal for a direct write and one through the daemon.
/// </summary>
internal sealed class ShardStats(string influxUrl, string database) : LandingCounter
{
    public override async Task<double> ReadAsync()
    {
        var url = $"{influxUrl}/query?q={Uri.EscapeDataString("SHOW STATS FOR 'shard'")}";
        using var doc = JsonDocument.Parse(await Http.GetStringAsync(url));
        double sum = 0;
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            if (!r.TryGetProperty("series", out var series)) continue;
            foreach (var s in series.EnumerateArray())
            {
                if (!s.TryGetProperty("tags", out var tags) || !tags.TryGetProperty("database", out var db) || db.GetString() != database) continue;
                var columns = s.GetProperty("columns");
                int at = -1, i = 0;
                foreach (var c in columns.EnumerateArray()) { if (c.GetString() == "writePointsOk") at = i; i++; }
                if (at < 0) continue;
                foreach (var row in s.GetProperty("values").EnumerateArray()) sum += row[at].GetDouble();
            }
        }
        return sum;
    }
}
