using System.Diagnostics;
using System.Globalization;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// Snapshots of the downsampling windows: the write-ahead log must not keep every raw record of every open window,
/// so that a long tier (1h) and a small log go together, and the windows must stay exact (InfluxDB's GROUP BY time()
/// over the raw points) through kill -9, also in the middle of writing a snapshot.
/// </summary>
public partial class DurabilityTests
{
    private const string EightMiB = "8388608";

    /// <summary>A 1m tier (2m lateness) and a 1h tier, both with every aggregate; the 1h one from the 1m one or from raw points.</summary>
    private static Dictionary<string, string> HourTierSettings(bool hourFromMinutes)
    {
        var s = DownsampleOracleTests.TierSettings();
        s["Downsample:Tiers:1:Name"] = "1h";
        s["Downsample:Tiers:1:Interval"] = "1h";
        if (!hourFromMinutes) s.Remove("Downsample:Tiers:1:Source");
        s["Wal:SegmentBytes"] = OneMiB;
        s["Wal:MaxBytes"] = EightMiB;
        s["Wal:CheckpointInterval"] = "200ms";
        s["Downsample:SnapshotInterval"] = "500ms";
        s["Influx:BatchSize"] = "2000";
        return s;
    }

    private static readonly (string Tier, TimeSpan Interval)[] HourTiers = [("1m", TimeSpan.FromMinutes(1)), ("1h", TimeSpan.FromHours(1))];

    /// <summary>
    /// The scenario of the hardening issue: a 1h tier, an 8 MiB log in 1 MiB segments, InfluxDB up, and a steady load
    /// that writes about four times the log's size in event time that stays inside one hour, so the 1h window stays
    /// open for the whole run. The windows' snapshots let the log go of the records they hold: every write is
    /// acknowledged (no 503), the log stays small, and the windows equal InfluxDB's aggregates of the raw points.
    /// </summary>
    [Fact]
    public async Task A_1h_tier_with_an_8_MiB_log_takes_a_load_of_four_times_the_log_without_a_503_and_its_windows_stay_exact()
    {
        await using var stack = await IngestStack.StartAsync(HourTierSettings(hourFromMinutes: false));
        var db = ServersFixture.UniqueName("walhour");
        // 200 000 points 15 ms apart: 50 minutes of event time from the hour's start; about 160 bytes each, 32 MB in all.
        var points = new NumberedPoints("wh", series: 50, t0: T0, stepNs: 15_000_000, padding: 100);
        const int Requests = 1000, PerRequest = 200;
        var run = new WriteRun(stack.Daemon, db, points, Requests, PerRequest);
        using var watch = new LogSizeWatch(stack);
        var started = Stopwatch.StartNew();
        await run.RunAsync(writers: 2, pauseMs: 30, failurePauseMs: 200);
        var seconds = started.Elapsed.TotalSeconds;
        var peak = await watch.StopAsync();
        var logBytes = Directory.GetFiles(stack.Daemon.WalDirectory, "*.wal").Sum(f => new FileInfo(f).Length);
        var written = run.AcknowledgedRequests * (long)PerRequest * points.Line(0).Length;
        var saved = await SavedSnapshotsAsync(stack);
        output.WriteLine($"{run.Summary()} in {seconds:0.0} s; about {written / 1e6:0.0} MB of line protocol; log peak {peak / 1e6:0.00} MB " +
                         $"(ingest_wal_size_bytes, sampled every 100 ms), {logBytes / 1e6:0.00} MB at the end; {saved} snapshots saved");

        var failures = new List<string>();
        if (run.CountStatus(503) > 0 || run.UnacknowledgedRequests > 0)
            failures.Add($"{run.UnacknowledgedRequests} of {run.SentRequests} writes were not acknowledged ({run.CountStatus(503)} answered 503) while InfluxDB was up: " +
                         $"{run.FirstFailures()}; log peak {peak} bytes of {EightMiB}");
        if (written < 3 * long.Parse(EightMiB, CultureInfo.InvariantCulture)) failures.Add($"only {written} bytes were written: not far beyond the log's 8 MiB");
        if (saved is not >= 3) failures.Add($"ingest_downsample_snapshots_total{{outcome=\"saved\"}} is {saved?.ToString() ?? "absent"} after the run");
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(60)));
        if (failures.Count == 0) failures.AddRange(await CompareWindowsAsync(stack, db, points, "after a steady load into an open 1h window"));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// kill -9 in the middle of the windows (a 1h window open from the first point, 1m windows within their lateness)
    /// after several snapshots, with the same small log: the next start reads the last snapshot, replays only the
    /// records after it, and the windows still equal InfluxDB's aggregates of every raw point, none of which is lost.
    /// The 1h tier is fed from the 1m one here, so merged window states go through the snapshot too.
    /// </summary>
    [Fact]
    public async Task Kill_9_after_several_snapshots_restores_the_windows_from_the_last_one_and_they_stay_exact()
    {
        await using var stack = await IngestStack.StartAsync(HourTierSettings(hourFromMinutes: true));
        var db = ServersFixture.UniqueName("walsnap");
        var points = new NumberedPoints("ws", series: 40, t0: T0, stepNs: 15_000_000, padding: 100);
        const int Requests = 800, PerRequest = 200;
        var run = new WriteRun(stack.Daemon, db, points, Requests, PerRequest);
        var writing = run.RunAsync(writers: 2, pauseMs: 30, failurePauseMs: 150);

        double? saved = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () => writing.IsCompleted
                || (run.AcknowledgedRequests >= Requests * 2 / 5 && (saved = await SavedSnapshotsAsync(stack)) >= 3), TimeSpan.FromSeconds(60), 50),
            $"no kill point: {run.Summary()}, {saved} snapshots saved\n{DaemonApi.Tail(stack)}");
        Assert.False(writing.IsCompleted, "the writers finished before the kill: slow them down");
        var ackedBeforeKill = run.AcknowledgedRequests;
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");
        output.WriteLine($"killed after {ackedBeforeKill} acknowledged requests (event time {EventMinute(points, ackedBeforeKill, PerRequest)}), {saved} snapshots saved");

        var logBefore = stack.Daemon.Output.Length;
        await stack.Daemon.StartAgainAsync();
        var restart = stack.Daemon.Output[logBefore..];
        await writing;
        output.WriteLine("writers done: " + run.Summary());

        var failures = new List<string>();
        if (!restart.Contains("Restored the downsampling windows from their snapshot", StringComparison.Ordinal))
            failures.Add("the restart did not restore the windows from a snapshot:\n" + restart);
        if (run.CountStatus(503) > 0) failures.Add($"{run.CountStatus(503)} writes were answered 503 (log full): {run.FirstFailures()}");
        if (run.AcknowledgedRequests <= ackedBeforeKill) failures.Add("no write was acknowledged after the restart");
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(60)));
        if (failures.Count == 0) failures.AddRange(await CompareWindowsAsync(stack, db, points, $"after kill -9 at {EventMinute(points, ackedBeforeKill, PerRequest)} of event time"));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// kill -9 while a snapshot is being written: the snapshot's file is made a named pipe, which the test reads a
    /// little of and then leaves, so the daemon is provably blocked in the middle of writing it when it is killed. The
    /// next start must not take the half-written file: it reads the previous snapshot and replays the log after it,
    /// and the windows are exact.
    /// </summary>
    [Fact]
    public async Task Kill_9_in_the_middle_of_writing_a_snapshot_recovers_from_the_previous_one_exactly()
    {
        await using var stack = await IngestStack.StartAsync(HourTierSettings(hourFromMinutes: true));
        var db = ServersFixture.UniqueName("walpipe");
        // 400 series: a snapshot of well over the 64 KiB a pipe holds.
        var points = new NumberedPoints("wp", series: 400, t0: T0, stepNs: 15_000_000, padding: 40);
        const int Requests = 800, PerRequest = 200;
        var run = new WriteRun(stack.Daemon, db, points, Requests, PerRequest);
        var writing = run.RunAsync(writers: 2, pauseMs: 30, failurePauseMs: 150);
        var wal = stack.Daemon.WalDirectory;
        var snapshot = Path.Combine(wal, "transforms.snapshot");
        var temp = snapshot + ".tmp";

        double? saved = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () => writing.IsCompleted
                || (run.AcknowledgedRequests >= Requests / 4 && (saved = await SavedSnapshotsAsync(stack)) >= 2 && new FileInfo(snapshot).Length > 128 << 10), TimeSpan.FromSeconds(60), 50),
            $"no snapshot of over 128 KiB: {run.Summary()}, {saved} snapshots saved, {(File.Exists(snapshot) ? new FileInfo(snapshot).Length : 0)} bytes\n{DaemonApi.Tail(stack)}");
        // The snapshot being written now (if any) finishes; the next one opens the pipe.
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(MakeFifo(temp)), TimeSpan.FromSeconds(20), 5), $"could not make {temp} a named pipe");
        var previous = File.ReadAllBytes(snapshot);
        // A reader that opens the pipe (which waits for the daemon to open its end for the next snapshot), takes the
        // first 16 KiB and then holds the pipe open without reading: the daemon's writes block once the pipe is full.
        var head = Path.Combine(wal, "snapshot-head");
        using var reader = Process.Start(new ProcessStartInfo("sh", ["-c", "exec 3<\"$0\"; head -c 16384 <&3 >\"$1\"; sleep 300", temp, head]))!;
        try
        {
            Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(File.Exists(head) && new FileInfo(head).Length == 16384), TimeSpan.FromSeconds(30), 20),
                $"the daemon did not start writing a snapshot into the pipe\n{DaemonApi.Tail(stack)}");
            Assert.Equal("IWSN"u8.ToArray(), File.ReadAllBytes(head)[..4]);
            Assert.False(writing.IsCompleted, "the writers finished before the kill: slow them down");
            // The rest of the snapshot cannot fit in the pipe: the daemon is blocked writing it.
            stack.Daemon.Kill();
            Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");
        }
        finally
        {
            reader.Kill(entireProcessTree: true);
        }
        var ackedBeforeKill = run.AcknowledgedRequests;
        Assert.Equal(previous, File.ReadAllBytes(snapshot));
        var read = File.ReadAllBytes(head);
        output.WriteLine($"killed while writing a snapshot ({read.Length} bytes of it read) after {ackedBeforeKill} acknowledged requests; " +
                         $"the previous snapshot has {previous.Length} bytes");

        var logBefore = stack.Daemon.Output.Length;
        await stack.Daemon.StartAgainAsync();
        var restart = stack.Daemon.Output[logBefore..];
        await writing;

        var failures = new List<string>();
        if (!restart.Contains("Restored the downsampling windows from their snapshot", StringComparison.Ordinal))
            failures.Add("the restart did not restore the windows from the previous snapshot:\n" + restart);
        if (File.Exists(temp)) failures.Add($"{temp} (the interrupted snapshot) is still there after the restart");
        if (run.CountStatus(503) > 0) failures.Add($"{run.CountStatus(503)} writes were answered 503 (log full): {run.FirstFailures()}");
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(60)));
        if (failures.Count == 0) failures.AddRange(await CompareWindowsAsync(stack, db, points, "after kill -9 in the middle of writing a snapshot"));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    /// <summary>
    /// A damaged snapshot (bytes overwritten while the daemon was down) is not used: the start says so, sets it aside as
    /// <c>.corrupt</c>, and since the log no longer holds the records of the windows open at it, says which records the
    /// rebuilt windows lack. Raw points are unaffected: every acknowledged one lands.
    /// </summary>
    [Fact]
    public async Task A_damaged_snapshot_is_set_aside_and_what_the_windows_lose_is_said()
    {
        await using var stack = await IngestStack.StartAsync(HourTierSettings(hourFromMinutes: false));
        var db = ServersFixture.UniqueName("walbad");
        var points = new NumberedPoints("wb", series: 20, t0: T0, stepNs: 15_000_000, padding: 100);
        const int Requests = 400, PerRequest = 200;
        var run = new WriteRun(stack.Daemon, db, points, Requests, PerRequest);
        var writing = run.RunAsync(writers: 2, pauseMs: 20, failurePauseMs: 150);
        // Well past the log's size, so that the 1h window's first records are gone from it.
        double? saved = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () => writing.IsCompleted
            || (run.AcknowledgedRequests >= Requests * 3 / 4 && (saved = await SavedSnapshotsAsync(stack)) >= 2), TimeSpan.FromSeconds(60), 50),
            $"{run.Summary()}, {saved} snapshots saved\n{DaemonApi.Tail(stack)}");
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");
        run.Stop();
        await writing;
        var snapshot = Path.Combine(stack.Daemon.WalDirectory, "transforms.snapshot");
        var bytes = File.ReadAllBytes(snapshot);
        new Random(3).NextBytes(bytes.AsSpan(bytes.Length / 2, 32));
        File.WriteAllBytes(snapshot, bytes);

        var logBefore = stack.Daemon.Output.Length;
        await stack.Daemon.StartAgainAsync();
        var restart = stack.Daemon.Output[logBefore..];
        var failures = new List<string>();
        if (!restart.Contains("cannot be used", StringComparison.Ordinal))
            failures.Add("the start did not report the damaged snapshot:\n" + restart);
        if (!File.Exists(snapshot + ".corrupt")) failures.Add("the damaged snapshot was not set aside as transforms.snapshot.corrupt");
        if (!restart.Contains("which the log no longer holds", StringComparison.Ordinal))
            failures.Add("the start did not say which records the rebuilt windows lack:\n" + restart);
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(60)));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    private async Task<List<string>> CompareWindowsAsync(IngestStack stack, string db, NumberedPoints points, string when)
    {
        await DaemonApi.FlushAsync(stack);
        var failures = new List<string>();
        var oracle = new DownsampleOracle(stack.Influx, db);
        foreach (var (tier, interval) in HourTiers)
        {
            var problems = await oracle.CompareWhenSettledAsync([(points.Measurement, ["v", "n"])], tier, interval, T0, T0 + 2 * 60 * M,
                Tolerance.Daemon, timeout: TimeSpan.FromSeconds(30), stableFor: TimeSpan.FromSeconds(3), log: output.WriteLine);
            if (problems.Count > 0) failures.Add($"tier {tier} {when}: " + DownsampleOracle.Summarise(problems, 15));
        }
        if (failures.Count > 0) failures.Add(await DaemonApi.DownsampleDiagnosticsAsync(stack));
        return failures;
    }

    private static string EventMinute(NumberedPoints points, int requests, int perRequest) =>
        TimeSpan.FromTicks((points.Time((long)requests * perRequest) - T0) / 100).ToString(@"m\:ss", CultureInfo.InvariantCulture);

    /// <summary><c>ingest_downsample_snapshots_total{outcome="saved"}</c>; null when not exported.</summary>
    private static async Task<double?> SavedSnapshotsAsync(IngestStack stack)
    {
        var samples = await DaemonApi.MetricSamplesAsync(stack, "saved");
        var line = samples.FirstOrDefault(s => s.Line.StartsWith("ingest_downsample_snapshots_total{", StringComparison.Ordinal));
        return line.Line is null ? null : line.Value;
    }

    private static bool MakeFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    /// <summary>The largest <c>ingest_wal_size_bytes</c> seen, sampled every 100 ms until stopped.</summary>
    private sealed class LogSizeWatch : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<double> _watch;

        public LogSizeWatch(IngestStack stack) => _watch = Task.Run(async () =>
        {
            double peak = 0;
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    peak = Math.Max(peak, await MetricAsync(stack, "ingest_wal_size_bytes") ?? 0);
                    await Task.Delay(100, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
                catch (HttpRequestException)
                {
                }
            }
            return peak;
        });

        public async Task<double> StopAsync()
        {
            await _stop.CancelAsync();
            return await _watch;
        }

        public void Dispose() => _stop.Cancel();
    }
}
