using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.LoadGen;

public sealed class RunReport
{
    public required string Label { get; init; }
    public required int Round { get; init; }
    public required string Url { get; init; }
    public required string Db { get; init; }
    public long PointsAccepted { get; init; }
    public long BodiesAccepted { get; init; }
    public long Throttled { get; init; }
    public long Errors { get; init; }
    public long BodiesSkipped { get; init; }
    public long BodiesAbandoned { get; init; }
    public double AcceptSeconds { get; init; }
    public double AcceptedPointsPerSecond { get; init; }
    public bool? LandComplete { get; init; }
    public long? PointsLanded { get; init; }
    /// <summary>From the first write until the count query that first saw every point was issued.</summary>
    public double? LandSeconds { get; init; }
    /// <summary>Same, until that query answered: the upper bound of the landing time.</summary>
    public double? LandAnsweredSeconds { get; init; }
    public int? CountPolls { get; init; }
    /// <summary>Null unless every accepted point landed: a partial figure would flatter a lossy path.</summary>
    public double? LandedPointsPerSecond { get; init; }
    public double LatencyP50Ms { get; init; }
    public double LatencyP90Ms { get; init; }
    public double LatencyP99Ms { get; init; }
    public double LatencyMaxMs { get; init; }
    /// <summary>CPU this process burned while sending: on a small box the generator competes with what it measures.</summary>
    public double ToolCpuSeconds { get; init; }
    /// <summary>1-minute load average before/after (includes this run's own load; compare against a quiet run).</summary>
    /// <summary>CPU seconds of each --cpu-pid process from the first request until landed.</summary>
    public Dictionary<string, double>? ServerCpuSeconds { get; init; }
    public Dictionary<string, double>? ServerCpuSecondsPerMillion { get; init; }
    /// <summary>The same until the servers were idle again after the run (their deferred work included).</summary>
    public Dictionary<string, double>? ServerCpuSecondsToIdlePerMillion { get; init; }
    public double? Load1Before { get; init; }
    public double? Load1After { get; init; }
    [JsonIgnore] public List<string> ErrorSamples { get; init; } = [];

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    public void Print()
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"[{Label} #{Round}] {Url} db={Db}"));
        Console.WriteLine(string.Create(c,
            $"  accepted {PointsAccepted,12:N0} pts in {AcceptSeconds,8:F3} s = {AcceptedPointsPerSecond,12:N0} pts/s   ({BodiesAccepted} bodies, throttled {Throttled}, errors {Errors}, skipped {BodiesSkipped}, abandoned {BodiesAbandoned})"));
        Console.WriteLine(string.Create(c,
            $"  latency ms  p50 {LatencyP50Ms:F1}  p90 {LatencyP90Ms:F1}  p99 {LatencyP99Ms:F1}  max {LatencyMaxMs:F1}   (tool cpu {ToolCpuSeconds:F2} s, load avg {Load1Before:F2} -> {Load1After:F2})"));
        if (LandComplete is { } done)
            Console.WriteLine(done
                ? string.Create(c, $"  landed   {PointsLanded,12:N0} pts in {LandSeconds,8:F3} s = {LandedPointsPerSecond,12:N0} pts/s   (count answered at {LandAnsweredSeconds:F3} s, {CountPolls} polls)")
                : string.Create(c, $"  NOT ALL LANDED: {PointsLanded:N0} of {PointsAccepted:N0} after {LandSeconds:F1} s"));
        if (ServerCpuSecondsPerMillion is { } cpu)
            Console.WriteLine("  server cpu " + string.Join("   ", cpu.Select(kv => string.Create(c,
                $"{kv.Key} {ServerCpuSeconds![kv.Key]:F2} s = {kv.Value:F2} s per million points ({ServerCpuSecondsToIdlePerMillion?.GetValueOrDefault(kv.Key):F2} until idle)"))));
        foreach (var e in ErrorSamples) Console.WriteLine($"  error: {e}");
    }
}

/// <summary>
/// The closing --json line of either mode. <see cref="Json"/> leaves null members out, so a mode shows only the
/// figures it fills in; declaration order is the key order of the line, which scripts may already rely on.
/// </summary>
public sealed class RunSummary
{
    public RunSummary(string mode, Workload work, Options o, List<RunReport> runs)
    {
        Mode = mode;
        Points = work.Points;
        Series = o.Series;
        BatchSize = o.BatchSize;
        Concurrency = o.Concurrency;
        Gzip = o.Gzip;
        Sorted = o.Sorted;
        Shape = o.Shape.ToString().ToLowerInvariant();
        DistinctTimes = o.DistinctTimes;
        Precision = o.Precision.ToString().ToLowerInvariant();
        Endpoint = o.Endpoint.ToString().ToLowerInvariant();
        Runs = runs;
    }

    public string Mode { get; }
    public long Points { get; }
    public int Series { get; }
    public int BatchSize { get; }
    public int Concurrency { get; }
    public bool Gzip { get; }
    public bool Sorted { get; }
    public string Shape { get; }
    public bool DistinctTimes { get; }
    public string Precision { get; }
    public string Endpoint { get; }

    // Compare mode.
    public int? Repeat { get; init; }
    public string? Order { get; init; }
    public double? MedianDirectLandedPps { get; init; }
    public double? MedianDaemonLandedPps { get; init; }
    public double? MedianRatio { get; init; }
    public double? MedianAcceptRatio { get; init; }
    public double? GeomeanRatio { get; init; }
    public double? MinRatio { get; init; }
    public double? MaxRatio { get; init; }
    /// <summary>Per --cpu-pid name: median over the pairs of (daemon run's CPU per point / direct run's).</summary>
    public Dictionary<string, double>? MedianCpuRatio { get; init; }

    // Single mode.
    public double? MedianAcceptedPps { get; init; }
    public double? MedianLandedPps { get; init; }

    public List<RunReport> Runs { get; }
}

/// <summary>CPU time of server processes (influxd, the daemon) read from the kernel's accounting around a run.</summary>
public sealed class ServerCpu
{
    private readonly List<(string Name, int Pid)> _pids;
    private readonly TimeSpan?[] _start;

    public ServerCpu(List<(string Name, int Pid)> pids)
    {
        _pids = pids;
        _start = pids.Select(p => Read(p.Pid)).ToArray();
    }

    /// <summary>
    /// Waits until the processes together use less than <paramref name="idleCores"/> of a core over
    /// <paramref name="quiet"/> (or <paramref name="max"/> has passed), then gives what each spent since
    /// construction: the work a run left behind (a storage engine compacting what it just took) included.
    /// </summary>
    public async Task<Dictionary<string, double>> SpentUntilIdleAsync(double idleCores = 0.05, double quietSeconds = 1, double maxSeconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(maxSeconds);
        var last = Total();
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(TimeSpan.FromSeconds(quietSeconds));
            var now = Total();
            if (now - last < idleCores * quietSeconds) break;
            last = now;
        }
        return Spent();
    }

    private double Total() => Spent().Values.Sum();

    /// <summary>Seconds spent by each process since construction; a process that went away is left out.</summary>
    public Dictionary<string, double> Spent()
    {
        var spent = new Dictionary<string, double>();
        for (int i = 0; i < _pids.Count; i++)
            if (_start[i] is { } before && Read(_pids[i].Pid) is { } now)
                spent[_pids[i].Name] = Math.Round((now - before).TotalSeconds, 3);
        return spent;
    }

    private static TimeSpan? Read(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return p.TotalProcessorTime;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}

public static class Machine
{
    public static double? Load1()
    {
        try
        {
            string first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}

public static class Json
{
    private static readonly JsonSerializerOptions Opts = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Keep the URLs' '&' readable for whoever greps the log; the line is never embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Line(object o) => JsonSerializer.Serialize(o, Opts);

    public static double? Round(double? v, int digits = 1) => v is { } x ? Math.Round(x, digits) : null;

    public static double? Median(IEnumerable<double?> values)
    {
        var xs = values.Where(v => v.HasValue).Select(v => v!.Value).Order().ToArray();
        if (xs.Length == 0) return null;
        return xs.Length % 2 == 1 ? xs[xs.Length / 2] : (xs[xs.Length / 2 - 1] + xs[xs.Length / 2]) / 2;
    }
}
