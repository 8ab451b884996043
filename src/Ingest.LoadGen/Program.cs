using System.Diagnostics;
using System.Globalization;
using Ingest.LoadGen;

Options o;
try
{
    o = Options.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"ingest-load: {ex.Message}");
    return 2;
}
if (o.Help)
{
    Console.WriteLine(Options.Usage);
    return 0;
}

try
{
    return await Runner.MainAsync(o);
}
catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException)
{
    Console.Error.WriteLine($"ingest-load: {ex.Message}");
    return 1;
}

internal static class Runner
{
    /// <param name="AckIsLanding">The target is InfluxDB itself, whose 2xx means stored: its server CPU is read at the last 2xx.</param>
    private sealed record Plan(string Label, WriteTarget Target, string Db, string? VerifyUrl, bool Drop, bool Create, bool DropAfter,
        LandedBy LandedBy = LandedBy.Count, string? MetricsUrl = null, bool AckIsLanding = false);

    public static async Task<int> MainAsync(Options o)
    {
        var c = CultureInfo.InvariantCulture;
        var work = Generator.Build(o);
        string gz = o.Gzip ? string.Create(c, $", {work.WireBytes / 1e6:F1} MB gzip") : "";
        Console.WriteLine(string.Create(c,
            $"built {work.Batches.Length} bodies, {work.Points:N0} points, {o.Series} series, {work.RawBytes / 1e6:F1} MB raw{gz}, {work.RawBytes / (double)work.Points:F0} B/point, in {work.BuildTime.TotalSeconds:F2} s"));
        Console.WriteLine($"timestamps {Iso(work.FirstNs)} .. {Iso(work.LastNs)}, precision {o.Precision.ToString().ToLowerInvariant()}, {(o.Sorted ? "sorted" : "shuffled")} bodies");

        if (o.CpuPids.Count > 0)
            Console.WriteLine("server cpu of " + string.Join(", ", o.CpuPids.Select(p => $"{p.Name} (pid {p.Pid})")));

        if (o.DumpPath != null)
        {
            await using var f = File.Create(o.DumpPath);
            foreach (var b in work.Batches) await f.WriteAsync(b.Body);
            Console.WriteLine($"wrote {work.WireBytes:N0} bytes to {o.DumpPath}");
            return 0;
        }

        var plans = new List<Plan>();
        if (o.CompareUrl is { } direct)
        {
            string directDb = o.Db + "_direct";
            var directTarget = new WriteTarget("direct", WriteUrl(direct, Endpoint.V1, directDb, o), null);
            var daemonTarget = new WriteTarget("daemon", WriteUrl(o.Url, o.Endpoint, o.Db, o), o.Token);
            // Each run re-sends identical points, so both databases must start empty every time or the counts can't move.
            // The daemon's counter is the daemon's alone; the direct side dates its landing by count queries then.
            plans.Add(new Plan("direct", directTarget, directDb, direct, true, true, !o.KeepDb,
                o.LandedBy == LandedBy.Metric ? LandedBy.Count : o.LandedBy, AckIsLanding: true));
            plans.Add(new Plan("daemon", daemonTarget, o.Db, o.VerifyUrl, true, true, !o.KeepDb, o.LandedBy, MetricsUrl(o)));
        }
        else
        {
            if (o.Repeat > 1 && !(o.DropDb && o.VerifyUrl != null))
                throw new InvalidOperationException("--repeat without compare mode needs --verify-url and --drop-db (repeats resend identical points)");
            plans.Add(new Plan("run", new WriteTarget("run", WriteUrl(o.Url, o.Endpoint, o.Db, o), o.Token), o.Db, o.VerifyUrl,
                o.DropDb, o.CreateDb, o.Repeat > 1 && !o.KeepDb, o.LandedBy, MetricsUrl(o)));
        }

        var reports = new List<RunReport>();
        var clock = new Stopwatch();
        await WarmUpAsync(plans, work, o, clock);
        for (int round = 1; round <= o.Repeat; round++)
        {
            bool flip = o.Order == "ba" || (o.Order == "abba" && round % 2 == 0);
            foreach (var plan in flip ? Enumerable.Reverse(plans) : plans)
            {
                if (reports.Count > 0 && o.PauseSeconds > 0) await Task.Delay(TimeSpan.FromSeconds(o.PauseSeconds));
                var r = await RunOnceAsync(plan, round, work, o, clock);
                r.Print();
                reports.Add(r);
            }
        }

        RunSummary summary;
        if (o.CompareUrl != null)
        {
            var pairs = reports.Chunk(2).Select(p => p[0].Label == "direct" ? (Direct: p[0], Daemon: p[1]) : (Direct: p[1], Daemon: p[0])).ToArray();
            double? Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;
            var ratios = pairs.Select(p => Ratio(p.Daemon.LandedPointsPerSecond, p.Direct.LandedPointsPerSecond)).ToArray();
            var acceptRatios = pairs.Select(p => Ratio(p.Daemon.AcceptedPointsPerSecond, p.Direct.AcceptedPointsPerSecond)).ToArray();
            double? directMed = Json.Median(pairs.Select(p => p.Direct.LandedPointsPerSecond));
            double? daemonMed = Json.Median(pairs.Select(p => p.Daemon.LandedPointsPerSecond));
            double? ratioMed = Json.Median(ratios);
            Console.WriteLine();
            Console.WriteLine("round   direct landed pts/s   daemon landed pts/s   daemon/direct   (accepted ratio)");
            for (int i = 0; i < pairs.Length; i++)
                Console.WriteLine(string.Create(c,
                    $"{i + 1,5}   {Fmt(pairs[i].Direct.LandedPointsPerSecond),19}   {Fmt(pairs[i].Daemon.LandedPointsPerSecond),19}   {FmtRatio(ratios[i]),13}   ({FmtRatio(acceptRatios[i])})"));
            Console.WriteLine(string.Create(c,
                $"median  {Fmt(directMed),19}   {Fmt(daemonMed),19}   {FmtRatio(ratioMed),13}   ({FmtRatio(Json.Median(acceptRatios))})"));
            var known = ratios.Where(r => r.HasValue).Select(r => r!.Value).ToArray();
            // With --order abba and an even --repeat, a multiplicative bias for running first in a pair cancels in this.
            double? geo = known.Length > 0 ? Math.Exp(known.Average(Math.Log)) : null;
            if (known.Length > 1)
                Console.WriteLine(string.Create(c, $"ratio spread {known.Min():F3} .. {known.Max():F3} over {known.Length} pairs, geometric mean {geo:F3}"));
            var cpuRatios = new Dictionary<string, double>();
            foreach (var (name, _) in o.CpuPids)
            {
                foreach (var (label, of) in new (string, Func<RunReport, Dictionary<string, double>?>)[]
                         { ("until landed", r => r.ServerCpuSecondsPerMillion), ("until idle", r => r.ServerCpuSecondsToIdlePerMillion) })
                {
                    var perPair = pairs.Select(p => Ratio(of(p.Daemon)?.GetValueOrDefault(name), of(p.Direct)?.GetValueOrDefault(name))).ToArray();
                    if (Json.Median(perPair) is not { } med) continue;
                    cpuRatios[label == "until landed" ? name : name + "_until_idle"] = Math.Round(med, 4);
                    Console.WriteLine(string.Create(c,
                        $"{name} cpu per point {label}, daemon/direct: median {med:F3} (pairs: {string.Join(", ", perPair.Select(FmtRatio))}); per million points: direct {Json.Median(pairs.Select(p => of(p.Direct)?.GetValueOrDefault(name))):F2} s, daemon {Json.Median(pairs.Select(p => of(p.Daemon)?.GetValueOrDefault(name))):F2} s"));
                }
            }
            if (ratios.Any(r => r is null))
                Console.WriteLine("(a missing figure means that run did not land every accepted point; see above)");
            summary = new RunSummary("compare", work, o, reports)
            {
                Repeat = o.Repeat,
                Order = o.Order,
                MedianDirectLandedPps = Json.Round(directMed),
                MedianDaemonLandedPps = Json.Round(daemonMed),
                MedianRatio = Json.Round(ratioMed, 4),
                MedianAcceptRatio = Json.Round(Json.Median(acceptRatios), 4),
                GeomeanRatio = Json.Round(geo, 4),
                MinRatio = known.Length > 0 ? Math.Round(known.Min(), 4) : null,
                MaxRatio = known.Length > 0 ? Math.Round(known.Max(), 4) : null,
                MedianCpuRatio = cpuRatios.Count > 0 ? cpuRatios : null,
            };
        }
        else
        {
            summary = new RunSummary("single", work, o, reports)
            {
                MedianAcceptedPps = Json.Round(Json.Median(reports.Select(r => (double?)r.AcceptedPointsPerSecond))),
                MedianLandedPps = Json.Round(Json.Median(reports.Select(r => r.LandedPointsPerSecond))),
            };
        }
        if (o.Json) Console.WriteLine(Json.Line(summary));

        bool ok = reports.All(r => r.Errors == 0 && r.LandComplete != false);
        return ok ? 0 : 1;
    }

    /// <summary>
    /// The first measured run would otherwise pay for JIT, connection setup and the target's own cold start,
    /// which in compare mode would land on whichever side runs first. Only for plans whose database is dropped
    /// before measuring, since the warm-up sends the same points the measured run will.
    /// </summary>
    private static async Task WarmUpAsync(List<Plan> plans, Workload work, Options o, Stopwatch clock)
    {
        if (o.Warmup <= 0) return;
        foreach (var plan in plans.Where(p => p.Drop && p.VerifyUrl != null))
        {
            using var v = new Verifier(plan.VerifyUrl!);
            await v.DropAsync(plan.Db);
            await v.CreateAsync(plan.Db);
            var sent = await Sender.RunAsync(plan.Target, work, o, clock, o.Warmup);
            Console.WriteLine($"warm-up {plan.Label}: {sent.BodiesAccepted} bodies accepted, {sent.Errors} errors, {sent.Throttled} throttled");
            foreach (var e in sent.ErrorSamples) Console.WriteLine($"  error: {e}");
            // Let a daemon finish forwarding before the database disappears under it.
            var land = await v.WaitForAsync(plan.Db, work.CountTargets, work.FirstNs, work.LastNs, sent.PointsAccepted, clock,
                TimeSpan.FromSeconds(o.VerifyTimeout), TimeSpan.FromMilliseconds(o.PollMs));
            if (!land.Complete) Console.WriteLine($"  warm-up {plan.Label}: only {land.Landed:N0} of {sent.PointsAccepted:N0} points landed");
            await v.DropAsync(plan.Db);
            if (o.PauseSeconds > 0) await Task.Delay(TimeSpan.FromSeconds(o.PauseSeconds));
        }
    }

    private static async Task<RunReport> RunOnceAsync(Plan plan, int round, Workload work, Options o, Stopwatch clock)
    {
        Verifier? v = plan.VerifyUrl is { } vu ? new Verifier(vu) : null;
        try
        {
            long baseline = 0;
            if (v != null)
            {
                await v.PingAsync();
                if (plan.Drop) await v.DropAsync(plan.Db);
                if (plan.Create || plan.Drop) await v.CreateAsync(plan.Db);
                else if (!await v.ExistsAsync(plan.Db))
                    throw new InvalidOperationException($"database '{plan.Db}' does not exist on {plan.VerifyUrl} (add --create-db)");
                baseline = await v.CountAsync(plan.Db, work.CountTargets, work.FirstNs, work.LastNs);
                if (baseline > 0)
                    Console.WriteLine($"  warning: {plan.Db} already holds {baseline:N0} points inside this run's time span; overwritten ones will never add up (use --drop-db)");
            }

            using LandingCounter? counter = plan.LandedBy switch
            {
                LandedBy.Metric when plan.MetricsUrl is { } mu => new WrittenMetric(mu),
                LandedBy.Stats when plan.VerifyUrl is { } influx => new ShardStats(influx, plan.Db),
                _ => null,
            };
            double counterBaseline = counter is null ? 0 : await counter.ReadAsync();

            double? loadBefore = Machine.Load1();
            var serverCpu = new ServerCpu(o.CpuPids);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var sent = await Sender.RunAsync(plan.Target, work, o, clock);
            var toolCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            // The servers' CPU is read once landing is known and before any count query that does not date it:
            // when the landing counter got there, or for InfluxDB itself dated by count queries, at the last 2xx.
            var cpuSpent = plan.AckIsLanding && counter is null ? serverCpu.Spent() : null;
            // Polling starts only after the last 2xx so count queries don't steal CPU from the path being measured.
            long expected = baseline + sent.PointsAccepted;
            // With a landing counter the count queries only confirm the landing, untimed.
            TimeSpan? counterLanded = counter is null ? null
                : await counter.WaitForAsync(counterBaseline + sent.PointsAccepted, clock, TimeSpan.FromSeconds(o.VerifyTimeout));
            if (counter is not null) cpuSpent ??= serverCpu.Spent();
            LandResult? land = v == null ? null : await v.WaitForAsync(plan.Db, work.CountTargets, work.FirstNs, work.LastNs, expected,
                clock, TimeSpan.FromSeconds(o.VerifyTimeout), TimeSpan.FromMilliseconds(o.PollMs));
            cpuSpent ??= serverCpu.Spent();
            if (land is not null && counterLanded is { } cl)
                land = land.Complete ? land with { Elapsed = cl } : land;
            else if (counter is not null && counterLanded is null)
                land = land is null ? null : land with { Complete = false };

            // What the servers did for this run, counted until they are idle again: a storage engine compacts what
            // it took after the fact, and a slower landing would otherwise see more of that inside its window.
            var toIdle = o.CpuPids.Count > 0 ? await serverCpu.SpentUntilIdleAsync() : null;
            if (v != null && plan.DropAfter) await v.DropAsync(plan.Db);

            double acceptSec = sent.AcceptElapsed.TotalSeconds;
            var lat = sent.LatenciesMs;
            return new RunReport
            {
                Label = plan.Label,
                Round = round,
                Url = plan.Target.WriteUrl,
                Db = plan.Db,
                PointsAccepted = sent.PointsAccepted,
                BodiesAccepted = sent.BodiesAccepted,
                Throttled = sent.Throttled,
                Errors = sent.Errors,
                BodiesSkipped = sent.BodiesSkipped,
                BodiesAbandoned = sent.BodiesAbandoned,
                AcceptSeconds = Math.Round(acceptSec, 4),
                AcceptedPointsPerSecond = Math.Round(acceptSec > 0 ? sent.PointsAccepted / acceptSec : 0, 1),
                LandComplete = land?.Complete,
                PointsLanded = land is null ? null : land.Landed - baseline,
                LandSeconds = land is null ? null : Math.Round(land.Elapsed.TotalSeconds, 4),
                LandAnsweredSeconds = land is null ? null : Math.Round(land.AnsweredAt.TotalSeconds, 4),
                CountPolls = land?.Polls,
                LandedPointsPerSecond = land is { Complete: true } && land.Elapsed > TimeSpan.Zero
                    ? Math.Round(sent.PointsAccepted / land.Elapsed.TotalSeconds, 1) : null,
                LatencyP50Ms = Math.Round(RunReport.Percentile(lat, 0.50), 2),
                LatencyP90Ms = Math.Round(RunReport.Percentile(lat, 0.90), 2),
                LatencyP99Ms = Math.Round(RunReport.Percentile(lat, 0.99), 2),
                LatencyMaxMs = Math.Round(lat.Length > 0 ? lat[^1] : 0, 2),
                ErrorSamples = sent.ErrorSamples,
                Load1Before = loadBefore,
                ToolCpuSeconds = Math.Round(toolCpu.TotalSeconds, 3),
                ServerCpuSeconds = cpuSpent.Count > 0 ? cpuSpent : null,
                ServerCpuSecondsPerMillion = cpuSpent.Count > 0 && sent.PointsAccepted > 0
                    ? cpuSpent.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value * 1e6 / sent.PointsAccepted, 3)) : null,
                ServerCpuSecondsToIdlePerMillion = toIdle is { Count: > 0 } && sent.PointsAccepted > 0
                    ? toIdle.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value * 1e6 / sent.PointsAccepted, 3)) : null,
                Load1After = Machine.Load1(),
            };
        }
        finally
        {
            v?.Dispose();
        }
    }

    private static string? MetricsUrl(Options o) => o.LandedBy == LandedBy.Metric ? o.Url.TrimEnd('/') + "/metrics" : null;

    private static string WriteUrl(string baseUrl, Endpoint e, string db, Options o)
    {
        string p = Options.PrecisionParam(o.Precision, e);
        string d = Uri.EscapeDataString(db);
        return e == Endpoint.V1
            ? $"{baseUrl}/write?db={d}&precision={p}"
            : $"{baseUrl}/api/v2/write?bucket={d}&org={Uri.EscapeDataString(o.Org)}&precision={p}";
    }

    private static string Iso(long ns) =>
        DateTime.UnixEpoch.AddTicks(ns / 100).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private static string Fmt(double? v) => v is { } x ? x.ToString("N0", CultureInfo.InvariantCulture) : "—";

    private static string FmtRatio(double? v) => v is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "—";
}
