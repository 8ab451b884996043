using Ingest.Configuration;
using Ingest.Sinks.DeadLetter;

namespace Ingest.Tests;

/// <summary>
/// A target whose writes keep failing slows only itself, and what InfluxDB will not store ends in the dead
/// letter, found by bisection, instead of being retried for ever or dropped.
/// </summary>
public class SinkIsolationTests
{
    private const string ShardError = """{"error":"engine: cannot open shard 42: corrupt TSM file"}""";

    private static InfluxOptions Fast(int batchSize = 5000, int concurrency = 4) =>
        new() { BatchSize = batchSize, MaxConcurrentRequests = concurrency, FlushInterval = TimeSpan.FromMilliseconds(10) };

    private static async Task Until(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task A_target_that_keeps_failing_does_not_hold_up_the_writes_of_another()
    {
        var healed = false;
        await using var rig = new SinkRig(r => r.Query.Contains("db=bad") && !Volatile.Read(ref healed) ? FakeInflux.Status(500, ShardError) : FakeInflux.Status(204),
            Fast(batchSize: 10), new DeadLetterOptions { AfterAttempts = 1_000_000, AfterAge = TimeSpan.FromHours(1) });
        // More failing writes than connection slots, queued before the healthy target's points.
        for (var i = 0; i < 8; i++) await rig.Enqueue(10, i * 10, "bad");
        await rig.Enqueue(10, 1000, "good");

        try
        {
            await Until(() => rig.Influx.StoredLines.Count(l => l.Contains("id=10")) >= 10, "the healthy target's points to land");
            var bad = rig.Sink.Targets.Single(t => t.Database == "bad");
            Assert.Equal("failing", bad.State);
            // The writes started before the first failure go on retrying; no more start while it fails.
            Assert.Equal(8, bad.InFlight + bad.WaitingWrites);
            Assert.InRange(bad.InFlight, 1, 4);
            Assert.Contains("cannot open shard", bad.LastError);
            Assert.Equal("ok", rig.Sink.Targets.Single(t => t.Database == "good").State);
            Assert.Empty(rig.SetAside());
        }
        finally
        {
            Volatile.Write(ref healed, true);
        }
        await rig.Drained();
        Assert.Equal(90, rig.Influx.StoredLines.Distinct().Count());
    }

    [Fact]
    public async Task A_write_that_keeps_failing_is_bisected_and_only_the_failing_point_is_set_aside()
    {
        await using var rig = new SinkRig(r => r.Lines.Contains("m,id=7 v=7 7") ? FakeInflux.Status(500, ShardError) : FakeInflux.Status(204),
            Fast(), new DeadLetterOptions { AfterAttempts = 3 });
        await rig.Enqueue(20, 0, "db1");
        await rig.Drained();

        Assert.Equal(Enumerable.Range(0, 20).Where(i => i != 7).Select(i => $"m,id={i} v={i} {i}").Order(), rig.Influx.StoredLines.Distinct().Order());
        var block = Assert.Single(rig.SetAside());
        Assert.Equal(["m,id=7 v=7 7"], rig.SetAsideLines());
        Assert.Equal(("influx", "db1", "", "failing", 500, 1), (block.Header.Sink, block.Header.Database, block.Header.RetentionPolicy, block.Header.Reason, block.Header.Status, block.Header.Points));
        Assert.Contains("cannot open shard", block.Header.Error);
        Assert.Equal(1, rig.Metrics.Sum("ingest.sink.points.dead_lettered", "reason", "failing"));
        Assert.Equal(19, rig.Metrics.Sum("ingest.sink.points.written"));
        Assert.Equal(0, rig.Metrics.Sum("ingest.sink.points.dropped"));
        Assert.Equal(1, rig.Metrics.Sum("ingest.sink.batches", "outcome", "partial"));
    }

    [Fact]
    public async Task When_both_halves_fail_the_same_way_the_whole_write_is_set_aside_without_more_splits()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(500, ShardError), Fast(), new DeadLetterOptions { AfterAttempts = 2 });
        await rig.Enqueue(16, 0, "db1");
        await rig.Drained();

        // Two attempts of the whole write, then one of each half.
        Assert.Equal(4, rig.Influx.Requests.Count);
        Assert.Equal(16, rig.SetAsideLines().Count);
        Assert.Equal(16, rig.Metrics.Sum("ingest.sink.points.dead_lettered", "reason", "failing"));
        Assert.Equal(1, rig.Metrics.Sum("ingest.sink.batches", "outcome", "rejected"));
        Assert.Equal(0, rig.Metrics.Sum("ingest.sink.points.written"));
    }

    [Fact]
    public async Task A_write_is_set_aside_once_it_has_failed_for_longer_than_the_age_limit()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(500, ShardError), Fast(),
            new DeadLetterOptions { AfterAttempts = 1_000_000, AfterAge = TimeSpan.FromMilliseconds(300) });
        var started = System.Diagnostics.Stopwatch.StartNew();
        await rig.Enqueue(4, 0, "db1");
        await rig.Drained();
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(300), $"set aside after {started.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(4, rig.SetAsideLines().Count);
    }

    [Theory]
    [InlineData(503, "")]
    [InlineData(429, "")]
    [InlineData(500, "timeout")]
    [InlineData(500, "engine: cache-max-memory-size exceeded: (1073741824/1073741824)")]
    [InlineData(401, "authorization failed")]
    [InlineData(0, "")]
    public async Task An_unavailable_influx_is_waited_for_past_the_dead_letter_limits(int status, string error)
    {
        var up = false;
        await using var rig = new SinkRig(_ => Volatile.Read(ref up) ? FakeInflux.Status(204)
                : status == 0 ? throw new HttpRequestException("connection refused") : FakeInflux.Status(status, $$"""{"error":"{{error}}"}"""),
            Fast(), new DeadLetterOptions { AfterAttempts = 2, AfterAge = TimeSpan.FromMilliseconds(100) });
        var started = System.Diagnostics.Stopwatch.StartNew();
        await rig.Enqueue(6, 0, "db1");
        // Far past both limits, counted in attempts and in time.
        await Until(() => rig.Influx.Requests.Count >= 10 && started.Elapsed > TimeSpan.FromMilliseconds(400), "ten attempts");
        Assert.Equal(6, rig.Buffer.Depth);
        Assert.Empty(rig.SetAside());

        Volatile.Write(ref up, true);
        await rig.Drained();
        Assert.Equal(6, rig.Influx.StoredLines.Distinct().Count());
        Assert.Empty(rig.SetAside());
    }

    [Fact]
    public async Task A_partial_write_is_bisected_to_set_aside_the_points_influx_dropped()
    {
        const string conflict = """{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float dropped=1 for database: db1"}""";
        await using var rig = new SinkRig(r => r.Lines.Contains("m,id=3 v=3 3") ? FakeInflux.Status(400, conflict) : FakeInflux.Status(204),
            Fast(), new DeadLetterOptions());
        await rig.Enqueue(10, 0, "db1");
        await rig.Drained();

        Assert.Equal(["m,id=3 v=3 3"], rig.SetAsideLines());
        Assert.Equal("partial", rig.SetAside().Single().Header.Reason);
        Assert.Equal(1, rig.Metrics.Sum("ingest.sink.points.dead_lettered", "reason", "partial"));
        Assert.Equal(9, rig.Metrics.Sum("ingest.sink.points.written"));
    }

    [Fact]
    public async Task A_whole_refusal_is_set_aside_at_once()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(500, """{"error":"retention policy not found: gone"}"""), Fast(), new DeadLetterOptions());
        await rig.Enqueue(5, 0, "db1");
        await rig.Drained();
        Assert.Single(rig.Influx.Requests);
        var block = rig.SetAside().Single();
        Assert.Equal(("retention_policy_not_found", 5), (block.Header.Reason, block.Header.Points));
        Assert.Equal(5, rig.Metrics.Sum("ingest.sink.points.dead_lettered", "reason", "retention_policy_not_found"));
    }

    [Fact]
    public async Task A_full_dead_letter_drops_and_counts_what_it_cannot_keep()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(500, """{"error":"retention policy not found: gone"}"""), Fast(), new DeadLetterOptions { MaxBytes = 100 });
        await rig.Enqueue(5, 0, "db1");
        await rig.Drained();
        Assert.Empty(rig.SetAside());
        Assert.Equal(5, rig.Metrics.Sum("ingest.sink.points.dropped", "reason", "dead_letter_full"));
    }

    [Fact]
    public async Task Writes_to_one_target_stay_in_order_while_it_fails_on_an_ordered_sink()
    {
        // The raw sink's lanes run writes of a healthy target side by side; once failing, one at a time, so
        // nothing of a failing target overtakes the write that is being retried.
        var released = 0;
        await using var rig = new SinkRig(_ => Volatile.Read(ref released) == 0 ? FakeInflux.Status(500, ShardError) : FakeInflux.Status(204),
            Fast(batchSize: 5), new DeadLetterOptions { AfterAttempts = 1_000 });
        await rig.Enqueue(5, 0, "db1");
        // A second attempt means the first one's failure was taken: the target is failing from here on.
        await Until(() => rig.Influx.Requests.Count >= 2, "a retry of the first write");
        await rig.Enqueue(5, 5, "db1");
        // Two more attempts of the first write: room for the second to be sent beside it, were the lane to allow it.
        var seen = rig.Influx.Requests.Count;
        await Until(() => rig.Influx.Requests.Count >= seen + 2, "two more attempts");
        Interlocked.Exchange(ref released, 1);
        await rig.Drained();

        var lines = rig.Influx.Requests.Select(r => r.Lines[0]).ToList();
        Assert.True(lines.LastIndexOf("m,id=0 v=0 0") < lines.IndexOf("m,id=5 v=5 5"),
            "the second write was sent while the first was still being retried: " + string.Join(" | ", lines));
        Assert.Equal(["m,id=0 v=0 0", "m,id=5 v=5 5"], lines.Distinct());
    }
}
