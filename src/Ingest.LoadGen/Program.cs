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
    private sealed record Plan(string Label, WriteTarget Target, string Db, string? VerifyUrl, bool Drop, bool Create, bool DropAfter, string? MetricsUrl = null);

    public static async Task<int> MainAsync(Options o)
    {
        var c = CultureInfo.InvariantCulture;
        var work = Generator.Build(o);
        string gz = o.Gzip ? string.Create(c, $", {work.WireBytes / 1e6:F1} MB gzip") : "";
        Console.WriteLine(string.Create(c,
            $"built {work.Batches.Length} bodies, {work.Points:N0} points, {o.Series} series, {work.RawBytes / 1e6:F1} MB raw{gz}, {work.RawBytes / (double)work.Points:F0} B/point, in {work.BuildTime.TotalSeconds:F2} s"));
        Console.WriteLine($"timestamps {Iso(work.FirstNs)} .. {Iso(work.LastNs)}, precision {o.Precision.ToString().ToLowerInvariant()}, {(o.Sorted ? "sorted" : "shuffled")} bodies");

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
            plans.Add(new Plan("direct", directTarget, directDb, direct, true, true, !o.KeepDb));
            plans.Add(new Plan("daemon", daemonTarget, o.Db, o.VerifyUrl, true, true, !o.KeepDb, o.LandedMetric ? o.Url.TrimEnd('/') + "/metrics" : null));
        }
        else
        {
            if (o.Repeat > 1 && !(o.DropDb && o.VerifyUrl != null))
                throw new InvalidOperationException("--repeat without compare mode needs --verify-url and --drop-db (repeats resend identical points)");
            plans.Add(new Plan("run", new WriteTarget("run", WriteUrl(o.Url, o.Endpoint, o.Db, o), o.Token), o.Db, o.VerifyUrl,
                o.DropDb, o.CreateDb, o.Repeat > 1 && !o.KeepDb, o.LandedMetric ? o.Url.TrimEnd('/') + "/metrics" : null));
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
            var windows = new TimeWindows(work);
            var land = await v.WaitForAsync(plan.Db, work.CountTargets, windows, windows.Expected(sent.Accepted), clock,
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
            var windows = new TimeWindows(work);
            long[] baselines = new long[windows.Count];
            if (v != null)
            {
                await v.PingAsync();
                if (plan.Drop) await v.DropAsync(plan.Db);
                if (plan.Create || plan.Drop) await v.CreateAsync(plan.Db);
                else if (!await v.ExistsAsync(plan.Db))
                    throw new InvalidOperationException($"database '{plan.Db}' does not exist on {plan.VerifyUrl} (add --create-db)");
                baselines = await v.CountAllAsync(plan.Db, work.CountTargets, windows);
                baseline = baselines.Sum();
                if (baseline > 0)
                    Console.WriteLine($"  warning: {plan.Db} already holds {baseline:N0} points inside this run's time span; overwritten ones will never add up (use --drop-db)");
            }

            var metric = plan.MetricsUrl is { } mu ? new WrittenMetric(mu) : null;
            double metricBaseline = metric is null ? 0 : await metric.ReadAsync();

            double? loadBefore = Machine.Load1();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var sent = await Sender.RunAsync(plan.Target, work, o, clock);
            var toolCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            // Polling starts only after the last 2xx so count queries don't steal CPU from the path being measured.
            long[] expected = windows.Expected(sent.Accepted);
            for (int w = 0; w < expected.Length; w++) expected[w] += baselines[w];
            // With --landed-metric the daemon's own count of points InfluxDB acknowledged dates the landing (cheap to
            // poll, and the same definition as a direct write's 2xx); the count queries then only confirm it, untimed.
            TimeSpan? metricLanded = metric is null ? null
                : await metric.WaitForAsync(metricBaseline + sent.PointsAccepted, clock, TimeSpan.FromSeconds(o.VerifyTimeout));
            LandResult? land = v == null ? null : await v.WaitForAsync(plan.Db, work.CountTargets, windows, expected,
                clock, TimeSpan.FromSeconds(o.VerifyTimeout), TimeSpan.FromMilliseconds(o.PollMs));
            metric?.Dispose();
            if (land is not null && metricLanded is { } ml)
                land = land.Complete ? land with { Elapsed = ml } : land;
            else if (metric is not null && metricLanded is null)
                land = land is null ? null : land with { Complete = false };

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
                Load1After = Machine.Load1(),
            };
        }
        finally
        {
            v?.Dispose();
        }
    }

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
