using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.Durability;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// The write-ahead log end to end, against a real influxd: a 2xx is a promise that the points reach InfluxDB, through
/// a kill -9 of the daemon, an InfluxDB outage, a damaged log directory and a full log. Every point is numbered
/// (field <c>n</c>) with its own series and timestamp and a value the test keeps, so InfluxDB's answer can be
/// checked point by point: every acknowledged point present with its value, nothing unknown, nothing twice.
/// Each test has a private stack, as they stop servers.
/// </summary>
public partial class DurabilityTests(ITestOutputHelper output)
{
    private const long S = RawDataSet.Second, M = RawDataSet.Minute, T0 = RawDataSet.Base;
    private const string OneMiB = "1048576";

    // ---------------------------------------------------------------------------------------------------------
    // a. kill -9 under load
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Four writers post small requests while the daemon is killed (SIGKILL) and started again. influxd is stopped
    /// shortly before the kill and started after the restart, so the acknowledged points of that stretch exist only
    /// in the log when the process dies and must come back by replay. Afterwards every 2xx point is in InfluxDB
    /// once, and the 1m/5m windows the daemon wrote equal InfluxDB's own GROUP BY time() over the raw points.
    /// </summary>
    [Fact]
    public async Task Kill_9_under_load_loses_no_acknowledged_point_and_the_windows_still_match_InfluxDB()
    {
        var settings = DownsampleOracleTests.TierSettings();
        settings["Influx:BatchSize"] = "200";
        settings["Wal:SegmentBytes"] = OneMiB;
        // Progress is recorded often, so that the last checkpoint before the kill is recent (see the timeline below);
        // so are the windows' snapshots, several of which then wait for windows written while influxd is down.
        settings["Wal:CheckpointInterval"] = "200ms";
        settings["Downsample:SnapshotInterval"] = "200ms";
        await using var stack = await IngestStack.StartAsync(settings);
        var db = ServersFixture.UniqueName("walkill");
        // 20 000 points, 30 ms apart over 10 minutes, round 8 series; 20 points per request.
        var points = new NumberedPoints("wk", series: 8, t0: T0, stepNs: 30_000_000);
        const int Requests = 1000, PerRequest = 20;
        var run = new WriteRun(stack.Daemon, db, points, Requests, PerRequest);

        // Timeline in event time (request r holds points of minute r / 100): influxd goes away at about 2:00, so the
        // 1m windows from minute 1 on are written while it is down (each when the watermark passes its end, final 2m
        // later: lateness); the kill comes at about 6:30, when the windows of minutes 1-3 are final and those of
        // minutes 4-6 still open. Writes go on until 10:00.
        var writing = run.RunAsync(writers: 4, pauseMs: 15, failurePauseMs: 150);
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(run.AcknowledgedRequests >= Requests / 5 || writing.IsCompleted), TimeSpan.FromSeconds(30), 10),
            $"writes were not acknowledged: {run.Summary()}\n{DaemonApi.Tail(stack)}");
        await stack.Influx.StopAsync();
        var ackedAtInfluxStop = run.AcknowledgedRequests;
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(run.SentRequests >= Requests * 65 / 100 || writing.IsCompleted), TimeSpan.FromSeconds(30), 10),
            $"writes stalled while influxd was down: {run.Summary()}\n{DaemonApi.Tail(stack)}");
        Assert.False(writing.IsCompleted, "the writers finished before the kill: slow them down");
        var ackedBeforeKill = run.AcknowledgedRequests;
        stack.Daemon.Kill();
        var killedAt = run.SentRequests;
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");
        output.WriteLine($"killed after {killedAt} requests sent ({ackedBeforeKill} acknowledged, {ackedBeforeKill - ackedAtInfluxStop} of them while influxd was down)");
        Assert.True(ackedBeforeKill - ackedAtInfluxStop > 0, "no write was acknowledged while influxd was down: the replay would not be exercised");

        await stack.Daemon.StartAgainAsync();
        var replayed = await MetricAsync(stack, "ingest_wal_records_replayed_total");
        output.WriteLine($"restarted: ingest_wal_records_replayed_total {replayed}; {run.Summary()}");
        await stack.Influx.StartAsync();
        await writing;
        output.WriteLine("writers done: " + run.Summary());

        var failures = new List<string>();
        if (replayed is not > 0)
            failures.Add($"ingest_wal_records_replayed_total after the restart is {replayed?.ToString() ?? "absent"}, expected > 0 " +
                         $"({ackedBeforeKill - ackedAtInfluxStop} requests were acknowledged while influxd was down before the kill)");
        if (run.AcknowledgedRequests <= ackedBeforeKill) failures.Add("no write was acknowledged after the restart");

        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(45)));
        if (failures.Count == 0)
        {
            // The windows: closed by a flush once every raw point is in InfluxDB, then compared with its GROUP BY time().
            await DaemonApi.FlushAsync(stack);
            var oracle = new DownsampleOracle(stack.Influx, db);
            foreach (var (tier, interval) in new[] { ("1m", TimeSpan.FromMinutes(1)), ("5m", TimeSpan.FromMinutes(5)) })
            {
                var problems = await oracle.CompareWhenSettledAsync([(points.Measurement, ["v", "n"])], tier, interval, T0, T0 + 15 * M,
                    Tolerance.Daemon, timeout: TimeSpan.FromSeconds(20), stableFor: TimeSpan.FromSeconds(3), log: output.WriteLine);
                if (problems.Count > 0)
                    failures.Add($"tier {tier} after kill -9 and replay (influxd down from event time ~{Minutes(ackedAtInfluxStop)} until after the restart; " +
                                 $"kill at ~{Minutes(killedAt)}, so the 1m windows ending before ~{Minutes(killedAt - 200)} were already final at the kill, while those written during the outage still waited for influxd): " +
                                 DownsampleOracle.Summarise(problems, 15));
            }
            if (failures.Count > 0) failures.Add(await DaemonApi.DownsampleDiagnosticsAsync(stack));
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures) + $"\n{run.Summary()}\n" + DaemonApi.Tail(stack, 40));

        string Minutes(int requests) => TimeSpan.FromTicks(points.Time((long)requests * PerRequest) / 100 - T0 / 100).ToString(@"m\:ss");
    }

    // ---------------------------------------------------------------------------------------------------------
    // b. InfluxDB outage
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// influxd is stopped for 30 s under load and started again: every write is still acknowledged, every point lands
    /// once, and once all is delivered the log gives its segments back (only the active one stays).
    /// </summary>
    [Fact]
    public async Task During_a_30s_InfluxDB_outage_writes_are_acknowledged_and_every_point_lands_once_afterwards()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Influx:BatchSize"] = "1000",
            ["Wal:SegmentBytes"] = OneMiB,
        });
        var db = ServersFixture.UniqueName("walout");
        var points = new NumberedPoints("wo", series: 5, t0: T0, stepNs: 1_000_000);
        const int PerRequest = 50;
        var run = new WriteRun(stack.Daemon, db, points, requests: 100_000, PerRequest);
        var writing = run.RunAsync(writers: 2, pauseMs: 40, failurePauseMs: 100);

        await Task.Delay(2000);
        await stack.Influx.StopAsync();
        var ackedAtStop = run.AcknowledgedRequests;
        var outage = Stopwatch.StartNew();
        double peakSegments = 0, peakBytes = 0;
        while (outage.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(1000);
            peakSegments = Math.Max(peakSegments, await MetricAsync(stack, "ingest_wal_segments") ?? 0);
            peakBytes = Math.Max(peakBytes, await MetricAsync(stack, "ingest_wal_size_bytes") ?? 0);
        }
        var ackedDuringOutage = run.AcknowledgedRequests - ackedAtStop;
        await stack.Influx.StartAsync();
        await Task.Delay(2000);
        run.Stop();
        await writing;
        output.WriteLine($"{run.Summary()}; {ackedDuringOutage} requests acknowledged during the outage; log peak {peakSegments} segments, {peakBytes} bytes");

        var failures = new List<string>();
        if (ackedDuringOutage * PerRequest < 10_000) failures.Add($"only {ackedDuringOutage} requests were acknowledged during the 30 s outage");
        if (run.UnacknowledgedRequests > 0) failures.Add($"{run.UnacknowledgedRequests} writes were not acknowledged: {run.FirstFailures()}");
        if (peakSegments < 2) failures.Add($"the log never held more than {peakSegments} segments during the outage (ingest_wal_segments), peak size {peakBytes} bytes");
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(40)));

        // Delivered: the checkpoints let the log delete every segment but the one being written.
        double? segments = null, bytes = null;
        var emptied = await DaemonApi.WaitUntilAsync(async () =>
        {
            segments = await MetricAsync(stack, "ingest_wal_segments");
            bytes = await MetricAsync(stack, "ingest_wal_size_bytes");
            return segments == 1 && bytes <= 1 << 20;
        }, TimeSpan.FromSeconds(10), 250);
        if (!emptied)
            failures.Add($"all points delivered, but the log still holds {segments} segments / {bytes} bytes after 10 s " +
                         $"(files: {string.Join(", ", Directory.GetFiles(stack.Daemon.WalDirectory).Select(Path.GetFileName))})");
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    // ---------------------------------------------------------------------------------------------------------
    // c. damaged log
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Undelivered records in several 1 MiB segments, the daemon killed, and then the directory damaged three ways:
    /// random bytes overwritten in the middle of the second segment, a torn partial record appended to the last one,
    /// and an empty segment file with a higher first sequence. The daemon must start, skip only the records the
    /// random bytes hit (keeping a copy of them), cut the torn record, deliver every other record, report all of it
    /// (metrics and log lines), and never give out a sequence the empty file's name claimed.
    /// </summary>
    [Fact]
    public async Task A_damaged_log_is_repaired_at_start_and_every_intact_record_is_delivered()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Wal:SegmentBytes"] = OneMiB });
        var db = ServersFixture.UniqueName("waldmg");
        var points = new NumberedPoints("wd", series: 6, t0: T0, stepNs: 1_000_000, padding: 120);
        var wal = stack.Daemon.WalDirectory;
        await stack.Influx.StopAsync();

        const int PerRequest = 100;
        var run = new WriteRun(stack.Daemon, db, points, requests: 2000, PerRequest);
        // Four full segments, then some records into the fifth, which is the last.
        for (int extra = 25; SegmentFiles(wal).Count < 5 || extra-- > 0;)
        {
            var status = await run.SendNextAsync();
            Assert.True(status == 204, $"write {run.SentRequests} answered {status} while filling the log: {run.FirstFailures()}\n{DaemonApi.Tail(stack)}");
            Assert.True(run.SentRequests < 2000, "the log did not reach 5 segments");
        }
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");

        // What the log holds, read by the documented format: every segment's records and the points in them.
        var segments = SegmentFiles(wal).Select(ReadSegment).ToList();
        var allIndexes = segments.SelectMany(s => s.Records).SelectMany(r => r.Indexes).ToList();
        Assert.Equal(run.AcknowledgedIndexes().OrderBy(i => i), allIndexes.OrderBy(i => i));
        var victim = segments[1];
        var last = segments[^1];
        long lastSequence = last.Records[^1].Sequence;
        long emptyName = lastSequence + 1000;

        // 1. Random bytes over the middle of the second segment (its records are complete and were fsynced).
        var rng = new Random(77);
        var garbage = new byte[64];
        rng.NextBytes(garbage);
        long garbageAt = new FileInfo(victim.Path).Length / 2;
        using (var f = new FileStream(victim.Path, FileMode.Open, FileAccess.Write))
        {
            f.Position = garbageAt;
            f.Write(garbage);
        }
        var hit = victim.Records.Where(r => r.Overlaps(garbageAt, garbage.Length)).ToList();
        var kept = segments.SelectMany(s => s.Records).Where(r => !hit.Contains(r)).ToList();
        var expected = kept.SelectMany(r => r.Indexes).ToHashSet();
        var lost = hit.SelectMany(r => r.Indexes).ToHashSet();
        output.WriteLine($"{segments.Count} segments ({string.Join(", ", segments.Select(s => $"{s.First}: {s.Records.Count} records"))}); " +
                         $"{run.AcknowledgedRequests} requests, {allIndexes.Count} points; 64 bytes at {garbageAt} of segment {victim.First} hit records " +
                         $"{string.Join(", ", hit.Select(r => r.Sequence))} ({lost.Count} points)");

        // 2. A torn record at the end of the last segment: a header announcing 4000 bytes, then only 100 of them.
        long lastLength = new FileInfo(last.Path).Length;
        var torn = new byte[16 + 100];
        BinaryPrimitives.WriteUInt32LittleEndian(torn, 4000);
        BinaryPrimitives.WriteUInt32LittleEndian(torn.AsSpan(4), 0xDEADBEEF);
        BinaryPrimitives.WriteUInt64LittleEndian(torn.AsSpan(8), (ulong)(lastSequence + 1));
        rng.NextBytes(torn.AsSpan(16));
        using (var f = new FileStream(last.Path, FileMode.Append, FileAccess.Write)) f.Write(torn);
        // 3. An empty segment whose name claims a higher first sequence.
        var emptyPath = Path.Combine(wal, $"{emptyName:D20}.wal");
        File.WriteAllBytes(emptyPath, []);

        await stack.Influx.StartAsync();
        var logBefore = stack.Daemon.Output.Length;
        await stack.Daemon.StartAgainAsync();
        var startLog = stack.Daemon.Output[logBefore..];

        var failures = new List<string>();
        var damagedAt = hit[0].Offset;
        var keptAs = $"{Path.GetFileName(victim.Path)}.damaged-{damagedAt}";
        var damagedLength = hit.Sum(r => r.FrameLength);
        var files = Directory.GetFiles(wal).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToList();
        string Files() => $"files now: [{string.Join(", ", files)}]";
        if (new FileInfo(Path.Combine(wal, keptAs)) is not { Exists: true } copy || copy.Length != damagedLength)
            failures.Add($"the {damagedLength} damaged bytes were not kept as {keptAs}; {Files()}");
        if (files.Any(n => n!.EndsWith(".corrupt", StringComparison.Ordinal))) failures.Add($"a file was set aside although every record but the damaged ones is intact; {Files()}");
        if (File.Exists(emptyPath)) failures.Add($"the empty segment {Path.GetFileName(emptyPath)} was not removed; {Files()}");
        if (new FileInfo(last.Path) is { Exists: true } lf && lf.Length != lastLength)
            failures.Add($"the last segment is {lf.Length} bytes after recovery, expected {lastLength} (its torn record of {torn.Length} bytes cut off)");
        var truncated = await MetricAsync(stack, "ingest_wal_records_truncated_total");
        var skipped = await MetricAsync(stack, "ingest_wal_records_skipped_total");
        var skippedBytes = await MetricAsync(stack, "ingest_wal_skipped_bytes_total");
        var setAside = await MetricAsync(stack, "ingest_wal_segments_set_aside_total");
        var replayed = await MetricAsync(stack, "ingest_wal_records_replayed_total");
        if (truncated != 1) failures.Add($"ingest_wal_records_truncated_total is {truncated?.ToString() ?? "absent"}, expected 1 (one partial record)");
        if (skipped != hit.Count) failures.Add($"ingest_wal_records_skipped_total is {skipped?.ToString() ?? "absent"}, expected {hit.Count} (the records the garbage hit)");
        if (skippedBytes != damagedLength) failures.Add($"ingest_wal_skipped_bytes_total is {skippedBytes?.ToString() ?? "absent"}, expected {damagedLength}");
        if (setAside != 0) failures.Add($"ingest_wal_segments_set_aside_total is {setAside?.ToString() ?? "absent"}, expected 0");
        if (replayed != kept.Count) failures.Add($"ingest_wal_records_replayed_total is {replayed?.ToString() ?? "absent"}, expected {kept.Count} (every intact record)");
        if (!startLog.Contains("damaged and repaired", StringComparison.Ordinal) || !startLog.Contains($"damaged at offset {damagedAt}", StringComparison.Ordinal)
            || !startLog.Contains(keptAs, StringComparison.Ordinal))
            failures.Add($"no start-up log line reports the damage at offset {damagedAt} of {Path.GetFileName(victim.Path)} and names {keptAs}");

        // Every point of the intact records is delivered, once; the damaged records' are not replayed (documented).
        var landed = await WaitForPointsAsync(stack.Influx, db, points.Measurement, expected.Count, TimeSpan.FromSeconds(40));
        var present = landed.Select(p => p.N).ToList();
        var missing = expected.Except(present).OrderBy(i => i).ToList();
        var fromDamaged = present.Where(lost.Contains).Count();
        var unknown = present.Where(n => !expected.Contains(n) && !lost.Contains(n)).Count();
        if (missing.Count > 0)
            failures.Add($"{missing.Count} of {expected.Count} points of intact records are not in InfluxDB, e.g. n={string.Join(",", missing.Take(10))} " +
                         $"(records {string.Join(", ", kept.Where(r => r.Indexes.Overlaps(missing)).Select(r => r.Sequence).Take(10))})");
        if (fromDamaged > 0) failures.Add($"{fromDamaged} points of the damaged records reached InfluxDB");
        if (unknown > 0) failures.Add($"{unknown} points in InfluxDB were never written");
        failures.AddRange(CheckValues(landed, points));

        // Writes go on, with sequences above the one the empty file's name claimed.
        var after = await run.SendNextAsync();
        if (after != 204) failures.Add($"a write after the repair answered {after}: {run.FirstFailures()}");
        else
        {
            if (!File.Exists(emptyPath))
                failures.Add($"the first append after recovery did not start segment {Path.GetFileName(emptyPath)} (the sequence the removed empty file claimed): " +
                             $"[{string.Join(", ", SegmentFiles(wal).Select(Path.GetFileName))}]");
            var lastIndexes = run.LastRequestIndexes();
            var all = await WaitForPointsAsync(stack.Influx, db, points.Measurement, landed.Count + lastIndexes.Count, TimeSpan.FromSeconds(15));
            var got = all.Select(p => p.N).ToHashSet();
            if (!lastIndexes.All(got.Contains)) failures.Add("the points written after the repair did not reach InfluxDB");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\nstart-up log:\n" + startLog + "\n" + DaemonApi.Tail(stack, 15));
    }

    /// <summary>
    /// The field case at a smaller scale: acknowledged batches pile up in the log while InfluxDB is unreachable, the
    /// daemon is killed, and one byte in the middle of the newest segment flips. After the restart every point of
    /// every other record is in InfluxDB, the hit record's are the only ones missing, and the loss is on /metrics, on
    /// /api/status and in the log, with the damaged bytes kept beside the log.
    /// </summary>
    [Fact]
    public async Task One_flipped_byte_in_the_middle_of_the_newest_segment_loses_only_the_record_it_hit()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Wal:SegmentBytes"] = "4194304" });
        var db = ServersFixture.UniqueName("walflip");
        var points = new NumberedPoints("wb", series: 5, t0: T0, stepNs: 1_000_000, padding: 60);
        var wal = stack.Daemon.WalDirectory;
        await stack.Influx.StopAsync();

        const int PerRequest = 100;
        var run = new WriteRun(stack.Daemon, db, points, requests: 3000, PerRequest);
        // A full segment, then about 2 MiB into the newest one.
        while (SegmentFiles(wal) is var s && (s.Count < 2 || new FileInfo(s[^1]).Length < 2 << 20))
        {
            var status = await run.SendNextAsync();
            Assert.True(status == 204, $"write {run.SentRequests} answered {status} while filling the log: {run.FirstFailures()}\n{DaemonApi.Tail(stack)}");
            Assert.True(run.SentRequests < 3000, "the newest segment did not reach 2 MiB");
        }
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync(), "the killed daemon did not exit");

        var segments = SegmentFiles(wal).Select(ReadSegment).ToList();
        var records = segments.SelectMany(s => s.Records).ToList();
        Assert.Equal(run.AcknowledgedIndexes().OrderBy(i => i), records.SelectMany(r => r.Indexes).OrderBy(i => i));
        var newest = segments[^1];
        long flipAt = new FileInfo(newest.Path).Length / 2;
        var hit = newest.Records.Single(r => r.Overlaps(flipAt, 1));
        var later = newest.Records.Count(r => r.Sequence > hit.Sequence);
        using (var f = new FileStream(newest.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = flipAt;
            var old = f.ReadByte();
            f.Position = flipAt;
            f.WriteByte((byte)(old ^ 0x10));
        }
        var expected = records.Where(r => r != hit).SelectMany(r => r.Indexes).ToHashSet();
        output.WriteLine($"{segments.Count} segments, {records.Count} records, {expected.Count + hit.Indexes.Count} points; flipped byte {flipAt} of " +
                         $"{Path.GetFileName(newest.Path)}: record {hit.Sequence} (offset {hit.Offset}, {hit.FrameLength} bytes), {later} records after it in the segment");

        await stack.Influx.StartAsync();
        var logBefore = stack.Daemon.Output.Length;
        await stack.Daemon.StartAgainAsync();
        var startLog = stack.Daemon.Output[logBefore..];

        // Every point of every other record, one by one; none of the hit record's.
        var failures = new List<string>();
        var landed = await WaitForPointsAsync(stack.Influx, db, points.Measurement, expected.Count, TimeSpan.FromSeconds(40));
        var present = landed.Select(p => p.N).ToHashSet();
        var missing = expected.Where(n => !present.Contains(n)).OrderBy(n => n).ToList();
        if (missing.Count > 0)
            failures.Add($"{missing.Count} of {expected.Count} points of intact records are not in InfluxDB, e.g. n={string.Join(",", missing.Take(10))} " +
                         $"(records {string.Join(", ", records.Where(r => r.Indexes.Overlaps(missing)).Select(r => r.Sequence).Take(10))}; the damaged record is {hit.Sequence})");
        if (present.Count(hit.Indexes.Contains) is var fromHit and > 0) failures.Add($"{fromHit} points of the damaged record {hit.Sequence} reached InfluxDB");
        if (present.Count(n => !expected.Contains(n) && !hit.Indexes.Contains(n)) is var unknown and > 0) failures.Add($"{unknown} points in InfluxDB were never written");
        if (landed.Count != present.Count) failures.Add($"{landed.Count - present.Count} points are in InfluxDB twice");
        failures.AddRange(CheckValues(landed, points));

        var keptAs = $"{Path.GetFileName(newest.Path)}.damaged-{hit.Offset}";
        foreach (var (metric, want) in new[]
                 {
                     ("ingest_wal_records_skipped_total", 1.0), ("ingest_wal_records_lost_total", 1.0),
                     ("ingest_wal_skipped_bytes_total", hit.FrameLength), ("ingest_wal_records_truncated_total", 0),
                     ("ingest_wal_records_replayed_total", records.Count - 1),
                 })
        {
            var got = await MetricAsync(stack, metric);
            if (got != want) failures.Add($"{metric} is {got?.ToString() ?? "absent"}, expected {want}");
        }
        if (new FileInfo(Path.Combine(wal, keptAs)) is not { Exists: true } copy || copy.Length != hit.FrameLength)
            failures.Add($"the damaged record's {hit.FrameLength} bytes were not kept as {keptAs}: [{string.Join(", ", Directory.GetFiles(wal).Select(Path.GetFileName))}]");
        if (!startLog.Contains($"{Path.GetFileName(newest.Path)} is damaged at offset {hit.Offset} ({hit.FrameLength} bytes)", StringComparison.Ordinal)
            || !startLog.Contains($"sequences {hit.Sequence}-{hit.Sequence}", StringComparison.Ordinal))
            failures.Add($"no start-up log line names segment {Path.GetFileName(newest.Path)}, offset {hit.Offset}, length {hit.FrameLength} and sequence {hit.Sequence}");

        using (var status = JsonDocument.Parse(await stack.Client.GetStringAsync("api/status")))
        {
            var recovery = status.RootElement.GetProperty("wal").GetProperty("recovery");
            var damaged = recovery.GetProperty("damaged").EnumerateArray().ToList();
            if (recovery.GetProperty("skippedRecords").GetInt64() != 1 || recovery.GetProperty("lostRecords").GetInt64() != 1
                || damaged.Count != 1 || damaged[0].GetProperty("offset").GetInt64() != hit.Offset
                || damaged[0].GetProperty("firstSequence").GetInt64() != hit.Sequence || damaged[0].GetProperty("keptAs").GetString() != keptAs)
                failures.Add($"/api/status wal.recovery does not report the damaged record {hit.Sequence} at {hit.Offset} kept as {keptAs}: {recovery}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\nstart-up log:\n" + startLog + "\n" + DaemonApi.Tail(stack, 15));
    }

    // ---------------------------------------------------------------------------------------------------------
    // d. log at its size limit
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// With influxd down, a 2 MiB log fills up: a write is then refused with 503 and Retry-After (and its points are
    /// not kept), every earlier 2xx lands once influxd is back, and writes are accepted again after delivery.
    /// </summary>
    [Fact]
    public async Task A_full_log_answers_503_with_Retry_After_and_takes_writes_again_once_delivered()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Wal:SegmentBytes"] = OneMiB,
            ["Wal:MaxBytes"] = "2097152",
            ["Buffer:RetryAfterSeconds"] = "7",
        });
        var db = ServersFixture.UniqueName("walfull");
        var points = new NumberedPoints("wf", series: 4, t0: T0, stepNs: 1_000_000, padding: 100);
        await stack.Influx.StopAsync();

        const int PerRequest = 100;
        var run = new WriteRun(stack.Daemon, db, points, requests: 2000, PerRequest);
        int status;
        do
        {
            status = await run.SendNextAsync();
        } while (status == 204 && run.SentRequests < 2000);
        var ackedBeforeFull = run.AcknowledgedRequests;
        var logBytes = Directory.GetFiles(stack.Daemon.WalDirectory, "*.wal").Sum(f => new FileInfo(f).Length);
        output.WriteLine($"{ackedBeforeFull} requests ({ackedBeforeFull * PerRequest} points) acknowledged before the log was full; log {logBytes} bytes; then {status}");
        Assert.True(status == 503, $"write {run.SentRequests} answered {status}, expected 503 once the 2 MiB log is full ({logBytes} bytes of segments); " +
                                   $"{run.Summary()} {run.FirstFailures()}\n{DaemonApi.Tail(stack)}");
        Assert.Equal("7", run.LastRetryAfter);
        Assert.Contains("write-ahead log", run.LastRefusalBody ?? "");
        Assert.True(logBytes <= 2 * 1048576, $"the log holds {logBytes} bytes, above Wal:MaxBytes");
        Assert.True(logBytes > 1_500_000, $"the log refused writes at {logBytes} bytes, well below Wal:MaxBytes (2 MiB)");
        var rejected = await MetricAsync(stack, "ingest_wal_writes_rejected_total");
        Assert.True(rejected >= 1, $"ingest_wal_writes_rejected_total is {rejected?.ToString() ?? "absent"} after a 503");

        await stack.Influx.StartAsync();
        var failures = new List<string>();
        failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(40)));

        // Delivered and checkpointed: the log has room again.
        var acceptedAfter = await DaemonApi.WaitUntilAsync(async () => await run.SendNextAsync() == 204, TimeSpan.FromSeconds(15), 300);
        if (!acceptedAfter)
            failures.Add($"writes are still refused 15 s after every point was delivered: {run.Summary()}; ingest_wal_size_bytes " +
                         $"{await MetricAsync(stack, "ingest_wal_size_bytes")}, ingest_wal_segments {await MetricAsync(stack, "ingest_wal_segments")}");
        else
            failures.AddRange(await CheckEveryAcknowledgedPointLandsOnceAsync(stack, db, points, run, TimeSpan.FromSeconds(15)));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + DaemonApi.Tail(stack, 30));
    }

    // ---------------------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Waits until InfluxDB holds every acknowledged point, then checks each point: acknowledged ones all present
    /// with their series, timestamp and value; others only from requests whose answer was lost (in doubt); none twice;
    /// count and sum as expected.
    /// </summary>
    private async Task<List<string>> CheckEveryAcknowledgedPointLandsOnceAsync(IngestStack stack, string db, NumberedPoints points, WriteRun run, TimeSpan timeout)
    {
        var acked = run.AcknowledgedIndexes();
        var inDoubt = run.InDoubtIndexes();
        List<StoredPoint> landed = [];
        await DaemonApi.WaitUntilAsync(async () =>
        {
            // Counting is cheap; every point is read only once there are enough of them.
            if (await DaemonApi.CountAsync(stack.Influx, db, points.Measurement, "v") < acked.Count) return false;
            landed = await ReadPointsAsync(stack.Influx, db, points.Measurement);
            var have = landed.Select(p => p.N).ToHashSet();
            return acked.All(have.Contains);
        }, timeout, 300);
        if (landed.Count == 0) landed = await ReadPointsAsync(stack.Influx, db, points.Measurement);
        var failures = new List<string>();
        var present = landed.Select(p => p.N).ToHashSet();
        var missing = acked.Where(i => !present.Contains(i)).OrderBy(i => i).ToList();
        if (missing.Count > 0)
        {
            var requests = missing.Select(i => i / run.PerRequest).Distinct().ToList();
            failures.Add($"{missing.Count} of {acked.Count} acknowledged points are not in InfluxDB after {timeout.TotalSeconds:0} s " +
                         $"(from {requests.Count} acknowledged requests, e.g. #{string.Join(", #", requests.Take(10))}; points e.g. n={string.Join(",", missing.Take(10))})");
        }
        var twice = landed.GroupBy(p => p.N).Where(g => g.Count() > 1).ToList();
        if (twice.Count > 0)
            failures.Add($"{twice.Count} points are in InfluxDB more than once (different series or timestamp), e.g. " +
                         string.Join("; ", twice.Take(5).Select(g => string.Join(" and ", g.Select(p => p.ToString())))));
        var unknown = landed.Where(p => !acked.Contains(p.N) && !inDoubt.Contains(p.N)).ToList();
        if (unknown.Count > 0)
            failures.Add($"{unknown.Count} points in InfluxDB come from requests that were refused or never sent, e.g. {string.Join("; ", unknown.Take(5))}");
        failures.AddRange(CheckValues(landed, points));

        // The same by InfluxQL aggregates: count and sum over the measurement.
        var rows = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT count(v), sum(v) FROM {points.Measurement}");
        var row = rows.SelectMany(s => s.Values).FirstOrDefault();
        long count = row is null ? 0 : (long)(InfluxRows.Number(row[1]) ?? 0);
        double sum = row is null ? 0 : InfluxRows.Number(row[2]) ?? 0;
        var expectedSum = landed.Select(p => p.N).Distinct().Sum(points.Value);
        var ackedSum = acked.Sum(points.Value);
        if (count != present.Count || Math.Abs(sum - expectedSum) > 1e-6)
            failures.Add($"SELECT count(v), sum(v): {count}, {sum}; expected {present.Count} distinct points summing to {expectedSum}");
        if (sum < ackedSum - 1e-6) failures.Add($"sum(v) {sum} is below the sum of the acknowledged points' values {ackedSum}");
        output.WriteLine($"{db}: {acked.Count} acknowledged points, {inDoubt.Count} in doubt; InfluxDB has {count} (sum {sum}, acknowledged sum {ackedSum})");
        return failures;
    }

    private static List<string> CheckValues(List<StoredPoint> landed, NumberedPoints points)
    {
        var wrong = landed.Where(p => p.Host != points.Host(p.N) || p.Time != points.Time(p.N) || p.V != points.Value(p.N)).ToList();
        return wrong.Count == 0
            ? []
            : [$"{wrong.Count} points in InfluxDB differ from what was written, e.g. {string.Join("; ", wrong.Take(5).Select(p => $"{p} (written: {points.Line(p.N)})"))}"];
    }

    private static async Task<List<StoredPoint>> WaitForPointsAsync(InfluxServer influx, string db, string measurement, int atLeast, TimeSpan timeout)
    {
        // InfluxDB makes a point's fields visible one by one while a write is being stored, so a read can catch a
        // point with v and not yet n: wait for whole points, and hand back the last read (whole or not) to judge.
        List<StoredPoint> landed = [];
        await DaemonApi.WaitUntilAsync(async () => (landed = await ReadPointsAsync(influx, db, measurement)).Count(p => p.N >= 0 && !double.IsNaN(p.V)) >= atLeast,
            timeout, 500);
        return landed;
    }

    private sealed record StoredPoint(string Host, long Time, double V, long N)
    {
        public override string ToString() => $"n={N} host={Host} v={V.ToString("R", CultureInfo.InvariantCulture)} at {InfluxRows.Time(Time)}";
    }

    /// <summary>Every point of the measurement, as InfluxDB has it.</summary>
    private static async Task<List<StoredPoint>> ReadPointsAsync(InfluxServer influx, string db, string measurement)
    {
        var list = new List<StoredPoint>();
        foreach (var s in await InfluxRows.QueryAsync(influx, db, $"SELECT v, n FROM {InfluxServer.QuoteIdentifier(measurement)} GROUP BY host"))
        {
            int v = s.Column("v"), n = s.Column("n");
            var host = s.Tags.GetValueOrDefault("host", "");
            foreach (var r in s.Values)
                list.Add(new StoredPoint(host, r[0].GetInt64(), InfluxRows.Number(r[v]) ?? double.NaN, (long)(InfluxRows.Number(r[n]) ?? -1)));
        }
        return list;
    }

    /// <summary>The value of a metric on /metrics (summed over its label sets); null when it is not exported.</summary>
    private static async Task<double?> MetricAsync(IngestStack stack, string name)
    {
        var text = await stack.Client.GetStringAsync("metrics");
        double? total = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length <= name.Length || line[name.Length] is not (' ' or '{')) continue;
            var value = line[(line.LastIndexOf(' ') + 1)..];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) total = (total ?? 0) + v;
        }
        return total;
    }

    private static List<string> SegmentFiles(string directory) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.wal").Where(f => Regex.IsMatch(Path.GetFileName(f), @"^\d{20}\.wal$")).OrderBy(f => f, StringComparer.Ordinal).ToList()
            : [];

    /// <summary>A record as the segment holds it: where its frame starts and how long it is (header included).</summary>
    private sealed record LogRecord(long Sequence, HashSet<long> Indexes, long Offset, long FrameLength)
    {
        public bool Overlaps(long offset, long length) => Offset < offset + length && offset < Offset + FrameLength;
    }

    private sealed record SegmentContent(string Path, long First, List<LogRecord> Records);

    /// <summary>A segment read by the format in src/Ingest.Wal/README.md; each record decoded as a batch, its points by <c>n</c>.</summary>
    private static SegmentContent ReadSegment(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length >= 16 && Encoding.ASCII.GetString(bytes, 0, 4) == "IWAL", $"{path}: not a segment");
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4)));
        int headerSize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(6));
        long first = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8));
        Assert.Equal(long.Parse(Path.GetFileNameWithoutExtension(path), CultureInfo.InvariantCulture), first);
        var records = new List<LogRecord>();
        long at = headerSize, expected = first;
        while (at + 16 <= bytes.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)at));
            long sequence = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)at + 8));
            Assert.True(sequence == expected && at + 16 + length <= bytes.Length, $"{path}: record at {at} is not sequence {expected} or runs past the end");
            var batch = BatchRecord.Decode(bytes.AsSpan((int)at + 16, length), sequence);
            var indexes = new HashSet<long>();
            for (int i = 0; i < batch.Count; i++)
            {
                var fields = Encoding.UTF8.GetString(batch.Fields(i));
                indexes.Add(long.Parse(Regex.Match(fields, @"(?:^|,)n=(\d+)i").Groups[1].Value, CultureInfo.InvariantCulture));
            }
            Ingest.LineProtocol.PointBatch.Return(batch);
            records.Add(new LogRecord(sequence, indexes, at, 16 + length));
            at += 16 + length;
            expected++;
        }
        Assert.Equal(bytes.Length, at);
        return new SegmentContent(path, first, records);
    }

    /// <summary>Point n: series <c>host=h{n % series}</c>, time t0 + n·step, a value exact in binary (sums add up exactly), field n.</summary>
    private sealed class NumberedPoints(string measurement, int series, long t0, long stepNs, int padding = 0)
    {
        private readonly string _pad = padding > 0 ? ",pad=\"" + new string('p', padding) + "\"" : "";
        public string Measurement => measurement;
        public string Host(long n) => "h" + (n % series);
        public long Time(long n) => t0 + n * stepNs;
        public double Value(long n) => 1 + n * 37 % 1000 * 0.25;
        public string Line(long n) =>
            $"{measurement},host={Host(n)} v={Value(n).ToString("R", CultureInfo.InvariantCulture)},n={n}i{_pad} {Time(n)}";
    }

    /// <summary>
    /// Requests of consecutive points, numbered; remembers each request's answer: 2xx (acknowledged), another status or
    /// an exception (in doubt: it may have been logged before the answer was lost), or never sent.
    /// </summary>
    private sealed class WriteRun(DaemonProcess daemon, string db, NumberedPoints points, int requests, int perRequest)
    {
        private readonly int[] _status = Enumerable.Repeat(-1, requests).ToArray();
        private readonly List<string> _failures = [];
        private readonly CancellationTokenSource _stop = new();
        private int _next, _sent, _acked, _lastSent = -1;

        public int PerRequest => perRequest;
        public int SentRequests => Volatile.Read(ref _sent);
        public int AcknowledgedRequests => Volatile.Read(ref _acked);
        public int UnacknowledgedRequests => SentRequests - AcknowledgedRequests;
        public string? LastRetryAfter { get; private set; }
        public string? LastRefusalBody { get; private set; }

        public void Stop() => _stop.Cancel();

        public async Task RunAsync(int writers, int pauseMs, int failurePauseMs)
        {
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var status = await SendNextAsync();
                    if (status == -1) return;
                    await Task.Delay(status is >= 200 and < 300 ? pauseMs : failurePauseMs);
                }
            })));
        }

        /// <summary>Sends the next request; its status, 0 when it failed outright, -1 when all were sent.</summary>
        public async Task<int> SendNextAsync()
        {
            var r = Interlocked.Increment(ref _next) - 1;
            if (r >= requests) return -1;
            Volatile.Write(ref _lastSent, r);
            var body = new StringBuilder();
            for (long n = (long)r * perRequest; n < (long)(r + 1) * perRequest; n++) body.Append(points.Line(n)).Append('\n');
            int status;
            try
            {
                using var response = await daemon.Client.PostAsync($"write?db={db}", new StringContent(body.ToString(), Encoding.UTF8, "text/plain"));
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode)
                {
                    var text = await response.Content.ReadAsStringAsync();
                    if (status == 503)
                    {
                        LastRetryAfter = response.Headers.TryGetValues("Retry-After", out var v) ? string.Join(",", v) : null;
                        LastRefusalBody = text;
                    }
                    lock (_failures) _failures.Add($"#{r}: {status} {text}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                status = 0;
                lock (_failures) _failures.Add($"#{r}: {e.GetType().Name} {e.Message}");
            }
            _status[r] = status;
            Interlocked.Increment(ref _sent);
            if (status is >= 200 and < 300) Interlocked.Increment(ref _acked);
            return status;
        }

        private IEnumerable<long> IndexesOf(Func<int, bool> which) =>
            Enumerable.Range(0, requests).Where(r => which(Volatile.Read(ref _status[r])))
                .SelectMany(r => Enumerable.Range(0, perRequest).Select(k => (long)r * perRequest + k));

        public HashSet<long> AcknowledgedIndexes() => IndexesOf(s => s is >= 200 and < 300).ToHashSet();

        /// <summary>Requests answered <paramref name="status"/> (0: failed outright).</summary>
        public int CountStatus(int status) => _status.Count(s => s == status);

        /// <summary>Points of requests that failed outright or with 5xx other than a refusal: they may or may not have been logged.</summary>
        public HashSet<long> InDoubtIndexes() => IndexesOf(s => s == 0 || (s >= 500 && s != 503)).ToHashSet();

        public List<long> LastRequestIndexes()
        {
            var r = Volatile.Read(ref _lastSent);
            return Enumerable.Range(0, perRequest).Select(k => (long)r * perRequest + k).ToList();
        }

        public string FirstFailures()
        {
            lock (_failures) return _failures.Count == 0 ? "no failures" : $"{_failures.Count} failures, first: " + string.Join(" | ", _failures.Take(3));
        }

        public string Summary()
        {
            var statuses = string.Join(", ", _status.Where(s => s != -1).GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{(g.Key == 0 ? "error" : g.Key.ToString())}: {g.Count()}"));
            return $"{SentRequests} requests sent ({statuses}), {perRequest} points each";
        }
    }
}
