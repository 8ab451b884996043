using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests;

public class InfluxSinkTests
{
    [Fact]
    public async Task Points_are_sent_in_writes_of_at_most_batch_size_and_then_released()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(204), new InfluxOptions { BatchSize = 1000, FlushInterval = TimeSpan.FromMilliseconds(50), Gzip = true });
        await rig.Enqueue(2500);
        await rig.Drained();
        Assert.All(rig.Influx.Requests, r => Assert.True(r.Lines.Length <= 1000));
        Assert.Equal(2500, rig.Influx.StoredLines.Distinct().Count());
        Assert.Equal(2500, rig.Metrics.Sum("ingest.sink.points.written"));
        Assert.Contains("db=metrics", rig.Influx.Requests[0].Query);
        Assert.Contains("precision=ns", rig.Influx.Requests[0].Query);
        Assert.True(rig.Influx.Requests[0].Gzip);
    }

    [Fact]
    public async Task Bodies_go_uncompressed_by_default()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(204), new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(3);
        await rig.Drained();
        Assert.False(rig.Influx.Requests.Single().Gzip);
        Assert.Equal(3, rig.Influx.StoredLines.Count());
    }

    [Fact]
    public async Task A_small_batch_is_sent_when_the_flush_interval_passes()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(204), new InfluxOptions { BatchSize = 5000, FlushInterval = TimeSpan.FromMilliseconds(100) });
        // Judged by when the write arrived, not by sleeping and looking: a slow machine only makes it later.
        var enqueued = System.Diagnostics.Stopwatch.GetTimestamp();
        await rig.Enqueue(3);
        await rig.Drained(2000);
        var write = Assert.Single(rig.Influx.Requests);
        Assert.Equal(3, write.Lines.Length);
        var waited = System.Diagnostics.Stopwatch.GetElapsedTime(enqueued, write.Arrived);
        Assert.True(waited >= TimeSpan.FromMilliseconds(100), $"3 points of a 5000-point batch were sent after {waited.TotalMilliseconds:F1} ms, before the 100 ms flush interval");
    }

    [Fact]
    public async Task Points_for_different_databases_go_in_separate_writes()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(204), new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(2, 0, "a");
        await rig.Enqueue(3, 10, "b");
        await rig.Drained();
        Assert.Equal(2, rig.Influx.Requests.Single(r => r.Query.Contains("db=a")).Lines.Length);
        Assert.Equal(3, rig.Influx.Requests.Single(r => r.Query.Contains("db=b")).Lines.Length);
    }

    [Fact]
    public async Task Request_too_large_is_split_until_the_halves_fit()
    {
        await using var rig = new SinkRig(r => r.Lines.Length > 100 ? FakeInflux.Status(413, """{"error":"Request Entity Too Large"}""") : FakeInflux.Status(204),
            new InfluxOptions { BatchSize = 1000, FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(1000);
        await rig.Drained();
        Assert.Equal(1000, rig.Influx.StoredLines.Distinct().Count());
        Assert.Equal(0, rig.Metrics.Sum("ingest.sink.points.dropped"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_stage_counts_stored_points_as_sent_and_a_refused_one_as_dropped_or_dead_lettered_under_the_metrics_reason(bool deadLetter)
    {
        // One point InfluxDB finds too large even alone: the write is split around it, the other 9 are stored.
        await using var rig = new SinkRig(r => r.Lines.Any(l => l.StartsWith("m,id=3 ", StringComparison.Ordinal))
                ? FakeInflux.Status(413, """{"error":"Request Entity Too Large"}""") : FakeInflux.Status(204),
            new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) }, deadLetter ? new DeadLetterOptions() : new DeadLetterOptions { Enabled = false });
        await rig.Enqueue(10);
        await rig.Drained();

        var (lost, setAside) = deadLetter ? (rig.Stage.DeadLettered, rig.Stage.Dropped) : (rig.Stage.Dropped, rig.Stage.DeadLettered);
        var metric = deadLetter ? "ingest.sink.points.dead_lettered" : "ingest.sink.points.dropped";
        Assert.Equal(1, rig.Metrics.Sum(metric, "reason", "too_large"));
        Assert.True(rig.Stage.Sent == 9 && lost.GetValueOrDefault("too_large") == 1 && setAside.IsEmpty,
            $"stage: received {rig.Stage.Received}, sent {rig.Stage.Sent}, dropped [{string.Join(", ", rig.Stage.Dropped)}], " +
            $"deadLettered [{string.Join(", ", rig.Stage.DeadLettered)}]; /metrics: written {rig.Metrics.Sum("ingest.sink.points.written")}, {metric} too_large 1");
        Assert.Equal(rig.Stage.Received, rig.Stage.Sent + rig.Stage.Dropped.Values.Sum() + rig.Stage.DeadLettered.Values.Sum());
    }

    [Fact]
    public async Task Partial_write_drops_and_counts_what_influx_refused_without_retrying()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(400, """{"error":"partial write: field type conflict dropped=2 for database: metrics"}"""),
            new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(10);
        await rig.Drained();
        Assert.Single(rig.Influx.Requests);
        Assert.Equal(2, rig.Metrics.Sum("ingest.sink.points.dropped", "reason", "rejected"));
        Assert.Equal(8, rig.Metrics.Sum("ingest.sink.points.written"));
    }

    [Fact]
    public async Task Unavailable_is_retried_honouring_retry_after_then_delivered()
    {
        var calls = 0;
        await using var rig = new SinkRig(_ => Interlocked.Increment(ref calls) <= 2 ? FakeInflux.Status(503, retryAfter: 0) : FakeInflux.Status(204),
            new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(5);
        await rig.Drained();
        Assert.Equal(3, rig.Influx.Requests.Count);
        Assert.Equal(2, rig.Metrics.Sum("ingest.sink.retries", "error_type", "status_503"));
        Assert.Equal(5, rig.Influx.StoredLines.Count());
    }

    [Fact]
    public async Task Network_errors_are_retried_and_nothing_is_released_meanwhile()
    {
        var fail = true;
        await using var rig = new SinkRig(_ => Volatile.Read(ref fail) ? throw new HttpRequestException("connection refused") : FakeInflux.Status(204),
            new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(7);
        await Task.Delay(300);
        Assert.Equal(7, rig.Buffer.Depth);
        Assert.True(rig.Metrics.Sum("ingest.sink.retries", "error_type", "network") >= 2);
        Volatile.Write(ref fail, false);
        await rig.Drained();
        Assert.Equal(7, rig.Influx.StoredLines.Count());
    }

    [Fact]
    public async Task Missing_database_is_created_then_written()
    {
        var created = false;
        await using var rig = new SinkRig(r =>
        {
            if (r.Path == "/query") { created = true; return FakeInflux.Status(200, """{"results":[{}]}"""); }
            return created ? FakeInflux.Status(204) : FakeInflux.Status(404, """{"error":"database not found: \"metrics\""}""");
        }, new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });
        await rig.Enqueue(4);
        await rig.Drained();
        Assert.True(created);
        Assert.Equal(4, rig.Influx.StoredLines.Count());
    }

    [Fact]
    public async Task Missing_database_is_dropped_and_counted_when_creation_is_off()
    {
        await using var rig = new SinkRig(_ => FakeInflux.Status(404, """{"error":"database not found: \"metrics\""}"""),
            new InfluxOptions { FlushInterval = TimeSpan.FromMilliseconds(20), CreateDatabase = false });
        await rig.Enqueue(4);
        await rig.Drained();
        Assert.Equal(4, rig.Metrics.Sum("ingest.sink.points.dropped", "reason", "database_not_found"));
    }

    [Fact]
    public async Task Api_v2_writes_to_the_bucket_with_a_token()
    {
        var options = new InfluxOptions { ApiVersion = 2, Org = "acme", Bucket = "raw", Token = "t0k", FlushInterval = TimeSpan.FromMilliseconds(20) };
        await using var rig = new SinkRig(_ => FakeInflux.Status(204), options);
        await rig.Enqueue(1);
        await rig.Drained();
        var r = rig.Influx.Requests.Single();
        Assert.Equal("/api/v2/write", r.Path);
        Assert.Contains("org=acme", r.Query);
        Assert.Contains("bucket=raw", r.Query);
    }

    [Theory]
    [InlineData(400, """partial write: unable to parse 'x': bad timestamp dropped=1""", WriteStatus.PartiallyRejected)]
    [InlineData(400, "unable to parse 'x': missing fields", WriteStatus.Rejected)]
    [InlineData(404, "database not found: \"db\"", WriteStatus.DatabaseNotFound)]
    [InlineData(413, "Request Entity Too Large", WriteStatus.TooLarge)]
    [InlineData(429, "", WriteStatus.Retryable)]
    [InlineData(500, "retention policy not found: x", WriteStatus.Rejected)]
    [InlineData(500, "engine: cache full", WriteStatus.Retryable)]
    [InlineData(503, "", WriteStatus.Retryable)]
    [InlineData(401, "authorization failed", WriteStatus.Retryable)]
    public void Answers_are_classified_as_influx_means_them(int status, string body, WriteStatus expected)
    {
        Assert.Equal(expected, InfluxClient.Classify((System.Net.HttpStatusCode)status, body, null).Status);
    }
}
