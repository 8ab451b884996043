using System.Globalization;

namespace Ingest.LoadGen;

public enum Endpoint { V1, V2 }

/// <summary>Timestamp unit; the 1.x and 2.x APIs spell microseconds differently ("u" vs "us").</summary>
public enum TimeUnit { Ns, Us, Ms, S }

/// <summary>What the generated points look like.</summary>
public enum Shape { Telegraf, Lg }

public sealed class Options
{
    public string Url = "http://127.0.0.1:8186";
    public Endpoint Endpoint = Endpoint.V1;
    public string Db = "loadtest";
    public string Org = "ingest";
    public string? Token;
    public TimeUnit Precision = TimeUnit.Ns;
    public int Series = 1000;
    public int BatchSize = 5000;
    public long Points = 2_000_000;
    public double Duration;              // seconds; 0 = until --points are sent
    public int Concurrency = 4;
    public ulong Seed = 42;
    public long IntervalNs = 10_000_000_000; // per-series spacing between points
    public long? StartNs;                // null = now minus the span of the run, aligned to the interval
    public bool Sorted;
    public Shape Shape = Shape.Telegraf;
    public bool DistinctTimes;
    public List<(string Name, int Pid)> CpuPids = [];
    public bool Gzip;
    public string? VerifyUrl;
    public double VerifyTimeout = 120;
    public int PollMs = 200;
    public bool CreateDb;
    public bool DropDb;
    public string? CompareUrl;
    public int Repeat = 1;
    public int Warmup = 20;
    public string Order = "ab";
    public bool KeepDb;
    public double PauseSeconds = 2;
    public int MaxRetries = 1000;
    public double RequestTimeout = 60;
    public bool Json;
    public LandedBy LandedBy = LandedBy.Count;
    public double Rate;
    public string? DumpPath;
    public bool Help;

    public const string Usage = """
        ingest-load — end-to-end write load for the Ingest daemon (and InfluxDB itself)

        All request bodies are generated and (optionally) gzipped before the clock starts.

        Target
          --url URL              write target                                  [http://127.0.0.1:8186]
          --endpoint v1|v2       v1: /write?db=&precision=  v2: /api/v2/write?bucket=&org=&precision=   [v1]
          --db NAME              database (v1) / bucket (v2)                   [loadtest]
          --org NAME             org for v2                                    [ingest]
          --token TOKEN          sent as "Authorization: Token TOKEN"          [none]

        Data (deterministic for a given seed/series/points/start/interval)
          --series N             distinct series (cpu/mem/disk/net)            [1000]
          --points N             total points to send (k/M suffix ok)          [2000000]
          --batch-size N         points per request body                       [5000]
          --precision ns|us|ms|s timestamp unit in the bodies                  [ns]
          --interval D           per-series step between points (e.g. 10s, 500ms, 1us)  [10s]
          --start T              first timestamp: unix seconds or ISO-8601     [now - span of the run, aligned to --interval]
          --seed N               generator seed                                [42]
          --sorted               sort each body by series key (then time)      [off: series shuffled within each tick]
          --shape telegraf|lg    telegraf: cpu/mem/disk/net with 2-4 tags and 3-6 fields;
                                 lg: lg,host=hN,region=rM usage_idle=…,usage_user=…,load=…i   [telegraf]
          --distinct-times       every point gets its own timestamp: the points of one tick are spread
                                 over the tick, --interval / --series apart (needs --interval >= --series units)   [off]
          --gzip                 pre-compress bodies (CompressionLevel.Fastest), Content-Encoding: gzip   [off]

        Sending
          --concurrency N        parallel connections / in-flight requests     [4]
          --duration S           stop dispatching new bodies after S seconds   [0 = no limit; --points still caps]
          --max-retries N        429/503 retries per body before giving up     [1000]
          --request-timeout S    per HTTP request                              [60]

        Verification (InfluxDB 1.x /query)
          --verify-url URL       InfluxDB to count landed points in            [none; compare mode: --compare-url]
          --verify-timeout S     wait at most S seconds for all points to land [120]
          --poll-ms N            pause between count polls (stretched to the last query's own run time,
                                 so counting never takes more than half of InfluxDB's time)   [200]
          --drop-db              DROP DATABASE on the verify URL first         [off]
          --create-db            CREATE DATABASE on the verify URL first       [off]

        Comparison
          --compare-url URL      InfluxDB to write the same bodies to directly (v1 /write, db <db>_direct).
                                 Enables compare mode: each run drops+creates its database, writes (direct
                                 or via --url, see --order) and verifies landing; both sides get the same bodies.  [off]
          --repeat N             number of direct/daemon pairs                 [1]
          --order ab|ba|abba     order within each pair: ab = direct first (A B A B ...), ba = daemon
                                 first, abba = flip every other pair to cancel order/drift effects   [ab]
          --pause S              idle seconds between runs                     [2]
          --warmup N             unmeasured bodies sent to each target first (JIT, connections, db
                                 creation); compare mode, or single mode with --drop-db   [20]
          --keep-db              compare / --repeat: keep each run's database instead of dropping it
                                 once counted (dropping keeps its compactions out of the next run)  [off]

        Timing
          The clock starts at the first request. "accepted" = last 2xx. Count polling starts only after the
          last 2xx (so queries don't compete with the write path); "landed" = issue time of the first count
          query that saw every accepted point (the previous poll still saw fewer); its answer time is also shown.
          Points/s figures are accepted (resp. landed) points divided by those times.

          --rate N               send at most N points/s, bodies paced evenly (k/M suffix ok) [0 = as fast as possible]
          --landed-by count|stats|metric
                                 what dates "landed" (every point is confirmed by count queries either way):
                                 count: the first count() poll that saw every point (each poll during delivery
                                 costs InfluxDB CPU: about 0.3 s at a million points);
                                 stats: InfluxDB's own writePointsOk of the database's shards (SHOW STATS),
                                 polled every 20 ms, the same signal for both sides of a comparison;
                                 metric: the daemon's ingest_sink_points_written_total from its /metrics,
                                 every 20 ms (direct side: count)   [count]
          --landed-metric        the same as --landed-by metric

        Cost
          --cpu-pid NAME=PID     read the CPU time (user + system, /proc/PID/stat) of a server process around
          --cpu-pid NAME=:PORT   each run, from the first request until landed, and report it per million
                                 points; :PORT names the process listening on that TCP port; repeatable
                                 (e.g. --cpu-pid influxd=:8086 --cpu-pid daemon=:8186 --cpu-pid redis=5678).
                                 Compare mode reports the daemon/direct ratio of each NAME's CPU per point,
                                 until landed and until the servers are idle again after the run (what a
                                 storage engine compacts after the fact included)   [none]

        Output
          --json                 print one final line of JSON with the figures [off]
          --dump FILE            write the built bodies to FILE (gzip members if --gzip) and exit; sends nothing  [off]
          --help                 this text

        Exit status: 0 all bodies accepted (and landed, if verified); 1 errors or points missing; 2 bad options.
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? inline = null;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0) { inline = a[(eq + 1)..]; a = a[..eq]; }
            string V() => inline ?? (++i < args.Length ? args[i] : throw new ArgumentException($"{a} needs a value"));

            switch (a)
            {
                case "--url": o.Url = V().TrimEnd('/'); break;
                case "--endpoint":
                    o.Endpoint = V().ToLowerInvariant() switch
                    {
                        "v1" => Endpoint.V1,
                        "v2" => Endpoint.V2,
                        var x => throw new ArgumentException($"--endpoint: v1 or v2, not '{x}'"),
                    };
                    break;
                case "--db": o.Db = V(); break;
                case "--org": o.Org = V(); break;
                case "--token": o.Token = V(); break;
                case "--precision":
                    o.Precision = V().ToLowerInvariant() switch
                    {
                        "ns" or "n" => TimeUnit.Ns,
                        "us" or "u" => TimeUnit.Us,
                        "ms" => TimeUnit.Ms,
                        "s" => TimeUnit.S,
                        var x => throw new ArgumentException($"--precision: ns, us, ms or s, not '{x}'"),
                    };
                    break;
                case "--series": o.Series = (int)Count(a, V()); break;
                case "--points": o.Points = Count(a, V()); break;
                case "--batch-size": o.BatchSize = (int)Count(a, V()); break;
                case "--interval": o.IntervalNs = DurationNs(a, V()); break;
                case "--start": o.StartNs = ParseStart(V()); break;
                case "--seed": o.Seed = ulong.Parse(V(), CultureInfo.InvariantCulture); break;
                case "--sorted": o.Sorted = true; break;
                case "--shape":
                    o.Shape = V().ToLowerInvariant() switch
                    {
                        "telegraf" => Shape.Telegraf,
                        "lg" => Shape.Lg,
                        var x => throw new ArgumentException($"--shape: telegraf or lg, not '{x}'"),
                    };
                    break;
                case "--distinct-times": o.DistinctTimes = true; break;
                case "--cpu-pid": o.CpuPids.Add(ParsePid(V())); break;
                case "--gzip": o.Gzip = true; break;
                case "--concurrency": o.Concurrency = (int)Count(a, V()); break;
                case "--duration": o.Duration = Seconds(a, V()); break;
                case "--max-retries": o.MaxRetries = (int)Count(a, V()); break;
                case "--request-timeout": o.RequestTimeout = Seconds(a, V()); break;
                case "--verify-url": o.VerifyUrl = V().TrimEnd('/'); break;
                case "--verify-timeout": o.VerifyTimeout = Seconds(a, V()); break;
                case "--poll-ms": o.PollMs = (int)Count(a, V()); break;
                case "--drop-db": o.DropDb = true; break;
                case "--create-db": o.CreateDb = true; break;
                case "--compare-url": o.CompareUrl = V().TrimEnd('/'); break;
                case "--repeat": o.Repeat = (int)Count(a, V()); break;
                case "--pause": o.PauseSeconds = Seconds(a, V()); break;
                case "--warmup": o.Warmup = (int)Count(a, V()); break;
                case "--keep-db": o.KeepDb = true; break;
                case "--order":
                    o.Order = V().ToLowerInvariant();
                    if (o.Order is not ("ab" or "ba" or "abba")) throw new ArgumentException("--order: ab, ba or abba");
                    break;
                case "--json": o.Json = true; break;
                case "--landed-metric": o.LandedBy = LandedBy.Metric; break;
                case "--landed-by":
                    o.LandedBy = V().ToLowerInvariant() switch
                    {
                        "count" => LandedBy.Count,
                        "stats" => LandedBy.Stats,
                        "metric" => LandedBy.Metric,
                        var x => throw new ArgumentException($"--landed-by: count, stats or metric, not '{x}'"),
                    };
                    break;
                case "--rate": o.Rate = Count(a, V()); break;
                case "--dump": o.DumpPath = V(); break;
                case "--help" or "-h": o.Help = true; break;
                default: throw new ArgumentException($"unknown option '{args[i]}' (see --help)");
            }
        }
        o.Validate();
        return o;
    }

    private void Validate()
    {
        if (Series < 1 || Points < 1 || BatchSize < 1 || Concurrency < 1 || Repeat < 1 || PollMs < 1)
            throw new ArgumentException("--series, --points, --batch-size, --concurrency, --repeat, --poll-ms must be >= 1");
        if (IntervalNs % UnitNs(Precision) != 0)
            throw new ArgumentException("--interval must be a whole multiple of --precision, or points of one series would collide");
        if (Points / BatchSize > int.MaxValue - 1) throw new ArgumentException("too many batches");
        if (DistinctTimes && IntervalNs / UnitNs(Precision) < Series)
            throw new ArgumentException("--distinct-times needs --interval of at least --series precision units, so that a tick has a timestamp per series");
        if (CompareUrl != null) VerifyUrl ??= CompareUrl;
    }

    public static long UnitNs(TimeUnit u) => u switch
    {
        TimeUnit.Ns => 1,
        TimeUnit.Us => 1_000,
        TimeUnit.Ms => 1_000_000,
        _ => 1_000_000_000,
    };

    public static string PrecisionParam(TimeUnit u, Endpoint e) => u switch
    {
        TimeUnit.Ns => "ns",
        // 1.x silently treats an unknown precision as ns, so "us" must never reach a v1 endpoint.
        TimeUnit.Us => e == Endpoint.V1 ? "u" : "us",
        TimeUnit.Ms => "ms",
        _ => "s",
    };

    private static long Count(string name, string v)
    {
        v = v.Replace("_", "").Trim();
        long mult = 1;
        if (v.EndsWith('k') || v.EndsWith('K')) { mult = 1_000; v = v[..^1]; }
        else if (v.EndsWith('M') || v.EndsWith('m')) { mult = 1_000_000; v = v[..^1]; }
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || d < 0)
            throw new ArgumentException($"{name}: not a count: '{v}'");
        return checked((long)Math.Round(d * mult));
    }

    private static double Seconds(string name, string v) =>
        double.TryParse(v.TrimEnd('s'), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= 0
            ? d : throw new ArgumentException($"{name}: not a number of seconds: '{v}'");

    private static long DurationNs(string name, string v)
    {
        (string suffix, long ns)[] units = [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)];
        foreach (var (suffix, ns) in units.OrderByDescending(u => u.suffix.Length))
        {
            if (v.EndsWith(suffix, StringComparison.Ordinal)
                && long.TryParse(v[..^suffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0)
                return checked(n * ns);
        }
        throw new ArgumentException($"{name}: expected e.g. 10s, 500ms, 1us; got '{v}'");
    }

    private static (string, int) ParsePid(string v)
    {
        int eq = v.IndexOf('=');
        if (eq > 0 && int.TryParse(v[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0)
            return (v[..eq], pid);
        if (eq > 0 && v[(eq + 1)..] is [':', .. var port] && int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) && p is > 0 and < 65536)
            return (v[..eq], ListeningProcess.Find(p) ?? throw new ArgumentException($"--cpu-pid {v}: no process of this user listens on port {p}"));
        throw new ArgumentException($"--cpu-pid: NAME=PID or NAME=:PORT, e.g. influxd=1234 or influxd=:8086; got '{v}'");
    }

    private static long ParseStart(string v)
    {
        if (long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long secs))
            return checked(secs * 1_000_000_000);
        if (DateTimeOffset.TryParse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto))
            return (dto.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        throw new ArgumentException($"--start: unix seconds or ISO-8601, not '{v}'");
    }
}
