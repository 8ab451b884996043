using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Ingest.LoadGen;

/// <summary>
/// Reads the daemon's count of points InfluxDB acknowledged from its Prometheus endpoint. Polling it costs
/// InfluxDB nothing, unlike a COUNT query over millions of points while the daemon is still writing.
/// </summary>
internal sealed partial class WrittenMetric(string metricsUrl) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task<double> ReadAsync()
    {
        var text = await _http.GetStringAsync(metricsUrl);
        var m = Sample().Match(text);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

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

    public void Dispose() => _http.Dispose();

    [GeneratedRegex(@"(?m)^ingest_sink_points_written_total\{[^}]*sink=""influx""[^}]*\} (\S+)$")]
    private static partial Regex Sample();
}
