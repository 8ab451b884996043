using System.Text;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Tests;

public class AlertPathTests
{
    private static PointBatch Parse(string body, string database = "db")
    {
        var batch = PointBatch.Rent();
        batch.Database = database;
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
        return batch;
    }

    private static (AlertPath Path, StageQueue Queue, StageStats Stats) Build()
    {
        var rules = new[] { new ThresholdRule { Name = "hot", Measurement = "cpu", Field = "v", Crit = 90 } };
        var stats = new StageStats("threshold", "transform");
        var queue = new StageQueue("influx_alerts", 1000, FullPolicy.Backpressure, (_, _) => { });
        return (new AlertPath(new ThresholdTransform(new ThresholdCheck(rules), "alerts", stats), queue, stats), queue, stats);
    }

    [Fact]
    public async Task A_crossing_queues_an_alert_point_for_the_batch_database_and_leaves_the_input_alone()
    {
        var (path, queue, stats) = Build();
        var input = Parse("cpu,host=a v=10 1\ncpu,host=a v=95 2\nmem v=99 3\n", "telemetry");

        await path.CheckAsync(input, CancellationToken.None);

        Assert.Equal(3, input.Count);
        Assert.Equal(1, queue.Count);
        var alerts = await queue.ReadAsync();
        Assert.NotNull(alerts);
        Assert.Equal("telemetry", alerts.Database);
        var line = Encoding.UTF8.GetString(alerts.Data);
        Assert.StartsWith("alerts,", line);
        Assert.Contains("rule=hot", line);
        Assert.Contains("level=crit", line);
        Assert.EndsWith(" 2\n", line);
        Assert.Equal(3, stats.Received);
        Assert.Equal(1, path.RunExclusive(() => path.Check.Engine.ActiveCount));
    }

    [Fact]
    public async Task Points_inside_the_thresholds_queue_nothing()
    {
        var (path, queue, _) = Build();
        await path.CheckAsync(Parse("cpu,host=a v=10 1\ncpu,host=b v=89.9 2\n"), CancellationToken.None);
        Assert.Equal(0, queue.Count);
        Assert.Empty(path.RunExclusive(() => path.Check.Engine.ActiveAlerts));
    }

    [Fact]
    public async Task Event_batches_are_numbered_and_pending_until_delivered_and_a_checked_record_is_finished()
    {
        var rules = new[] { new ThresholdRule { Name = "hot", Measurement = "cpu", Field = "v", Crit = 90 } };
        var stats = new StageStats("threshold", "transform");
        var queue = new StageQueue("influx_alerts", 1000, FullPolicy.Backpressure, (_, _) => { });
        var ledger = new DeliveryLedger(0, 0, 0, followsChecks: true);
        var path = new AlertPath(new ThresholdTransform(new ThresholdCheck(rules), "alerts", stats), queue, stats, ledger);
        var first = Parse("cpu,host=a v=95 1\n");
        var second = Parse("cpu,host=a v=10 2\n");
        first.Sequence = 7;
        second.Sequence = 8;
        ledger.Logged(7);
        ledger.Logged(8);

        await path.CheckAsync(second, CancellationToken.None);
        Assert.Equal(7, ledger.OldestPending(LedgerConsumer.Check));
        await path.CheckAsync(first, CancellationToken.None);
        Assert.Equal(long.MaxValue, ledger.OldestPending(LedgerConsumer.Check));

        // second (t=2, OK) came first and first (t=1) is then out of order: one event, OK -> CRIT at t=2 is not one.
        Assert.Equal(0, queue.Count);
        var third = Parse("cpu,host=a v=99 3\ncpu,host=b v=99 3\n");
        await path.CheckAsync(third, CancellationToken.None);
        Assert.Equal(1, path.Emitted);
        var batch = await queue.ReadAsync();
        Assert.NotNull(batch);
        // Numbered as an emission; the log's record number stays the log's.
        Assert.Equal(1, batch.Emission);
        Assert.Equal(0, batch.Sequence);
        Assert.Equal(1, ledger.OldestPending(LedgerConsumer.AlertEvents));
        ledger.Finished(LedgerConsumer.AlertEvents, batch);
        Assert.Equal(long.MaxValue, ledger.OldestPending(LedgerConsumer.AlertEvents));
    }

    [Fact]
    public async Task Concurrent_checks_see_every_point_once()
    {
        var (path, queue, stats) = Build();
        // 400 series cross once each, spread over 8 writers: one alert point per series, whatever the interleaving.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var s = 0; s < 50; s++)
                await path.CheckAsync(Parse($"cpu,host=w{w}s{s} v=1 1\ncpu,host=w{w}s{s} v=99 2\n"), CancellationToken.None);
        })));

        Assert.Equal(800, stats.Received);
        Assert.Equal(400, path.RunExclusive(() => path.Check.Engine.ActiveCount));
        long alertPoints = 0;
        queue.Complete();
        while (await queue.ReadAsync() is { } b)
        {
            alertPoints += b.Count;
            b.Release();
        }
        Assert.Equal(400, alertPoints);
    }
}
