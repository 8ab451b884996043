using Akka.Streams.Dsl;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests.Sinks;

/// <summary>
/// The InfluxDB sink as an Akka.Streams sink, driven by a source of batches: how it cuts them into writes, and the
/// budget of points it holds while InfluxDB is away.
/// </summary>
public class InfluxSinkSpec
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static (InfluxSink Sink, FakeInflux Influx, List<PointBatch> Finished) Rig(Func<FakeInflux.Request, HttpResponseMessage> respond,
        InfluxOptions options, long capacity)
    {
        options = options with { RetryInitialDelay = TimeSpan.FromMilliseconds(5), RetryMaxDelay = TimeSpan.FromMilliseconds(20) };
        var influx = new FakeInflux(respond);
        var client = new InfluxClient(new HttpClient(influx) { BaseAddress = options.Url }, options);
        var finished = new List<PointBatch>();
        var sink = new InfluxSink(client, new InfluxSinkTelemetry(TestMeters.Create(), NullLogger<InfluxSinkTelemetry>.Instance),
            b => { lock (finished) finished.Add(b); }, null, null, InfluxSink.RawName, capacity, ordered: false);
        return (sink, influx, finished);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task An_InfluxSink_must_fill_writes_to_exactly_the_batch_size_from_batches_that_do_not_divide_it()
    {
        // A flush interval no test waits for: every write but the last is sent because it is full.
        var (sink, influx, finished) = Rig(_ => FakeInflux.Status(204), new InfluxOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMinutes(1) }, 1_000);
        var batches = Enumerable.Range(0, 34).Select(i => TestBatches.Make(3, first: i * 3, database: "db"));

        await sink.RunAsync(Source.From(batches), TestStreams.Materializer, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal([.. Enumerable.Repeat(10, 10), 2], influx.Requests.Select(r => r.Lines.Length).OrderDescending());
        Assert.Equal(102, influx.StoredLines.Distinct().Count());
        Assert.Equal(34, finished.Count);
        Assert.Equal(0, sink.Pending);
    }

    [Fact]
    public async Task An_InfluxSink_must_hold_no_more_than_its_budget_of_points_while_InfluxDB_is_away_and_deliver_them_all_after()
    {
        var away = 1;
        var (sink, influx, finished) = Rig(_ => Volatile.Read(ref away) == 1 ? FakeInflux.Status(503) : FakeInflux.Status(204),
            new InfluxOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMilliseconds(10) }, capacity: 50);
        var pulled = 0;
        IEnumerable<PointBatch> Batches()
        {
            for (var i = 0; i < 100; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return TestBatches.Make(10, first: i * 10, database: "db");
            }
        }

        var done = sink.RunAsync(Source.From(Batches()), TestStreams.Materializer, CancellationToken.None);
        await Until(() => sink.Pending >= 50, "the sink to hold its budget");
        // InfluxDB is retried several more times: time enough for the sink to take more, were it to.
        var seen = influx.Requests.Count;
        await Until(() => influx.Requests.Count >= seen + 10, "more retries");

        // The budget, the batch waiting for room, and one in the step before the buffer.
        Assert.InRange(Volatile.Read(ref pulled), 5, 7);
        Assert.InRange(sink.Pending, 50, 70);
        Assert.Empty(finished);

        Volatile.Write(ref away, 0);
        await done.WaitAsync(Patience);
        Assert.Equal(1000, influx.StoredLines.Distinct().Count());
        Assert.Equal(100, finished.Count);
        Assert.Equal(0, sink.Pending);
    }
}
