using Ingest.Graph;
using Ingest.LineProtocol;

namespace Ingest.Tests;

public class StageQueueTests
{
    private readonly List<(int Points, string Reason)> _drops = new();

    private StageQueue Queue(long capacity, FullPolicy policy) =>
        new("test", capacity, policy, (b, reason) => { lock (_drops) _drops.Add((b.Count, reason)); });

    private static PointBatch Batch(int points, int first = 0)
    {
        var b = TestBatches.Make(points, first);
        return b;
    }

    [Fact]
    public async Task Backpressure_makes_the_writer_wait_until_the_reader_makes_room()
    {
        var q = Queue(10, FullPolicy.Backpressure);
        Assert.True(await q.WriteAsync(Batch(8)));
        var waiting = q.WriteAsync(Batch(5)).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        var first = await q.ReadAsync();
        Assert.Equal(8, first!.Count);
        Assert.True(await waiting);
        Assert.Equal(5, q.Depth);
        Assert.Empty(_drops);
    }

    [Fact]
    public async Task Backpressure_keeps_writers_in_arrival_order()
    {
        var q = Queue(11, FullPolicy.Backpressure);
        Assert.True(await q.WriteAsync(Batch(5, 0)));
        var big = q.WriteAsync(Batch(9, 100)).AsTask();
        await Task.Delay(20);
        // The small batch would fit, but must not overtake the big one waiting before it.
        var small = q.WriteAsync(Batch(2, 200)).AsTask();
        await Task.Delay(20);
        Assert.False(small.IsCompleted);
        await q.ReadAsync();
        await Task.WhenAll(big, small).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(100, (await q.ReadAsync())!.Points[0].Timestamp);
        Assert.Equal(200, (await q.ReadAsync())!.Points[0].Timestamp);
    }

    [Fact]
    public async Task Drop_newest_refuses_the_incoming_batch_and_counts_it()
    {
        var q = Queue(10, FullPolicy.DropNewest);
        Assert.True(await q.WriteAsync(Batch(8)));
        Assert.False(await q.WriteAsync(Batch(5)));
        Assert.Equal([(5, "queue_full")], _drops);
        Assert.Equal(8, q.Depth);
    }

    [Fact]
    public async Task Drop_oldest_evicts_queued_batches_to_make_room_and_counts_them()
    {
        var q = Queue(10, FullPolicy.DropOldest);
        Assert.True(await q.WriteAsync(Batch(4, 0)));
        Assert.True(await q.WriteAsync(Batch(4, 10)));
        Assert.True(await q.WriteAsync(Batch(5, 20)));
        Assert.Equal([(4, "evicted")], _drops);
        Assert.Equal(9, q.Depth);
        Assert.Equal(10, (await q.ReadAsync())!.Points[0].Timestamp);
    }

    [Fact]
    public async Task Completed_queue_drains_then_ends_and_drops_later_writes()
    {
        var q = Queue(10, FullPolicy.Backpressure);
        Assert.True(await q.WriteAsync(Batch(3)));
        q.Complete();
        Assert.False(await q.WriteAsync(Batch(1)));
        Assert.Equal(3, (await q.ReadAsync())!.Count);
        Assert.Null(await q.ReadAsync());
        Assert.Equal([(1, "closed")], _drops);
    }

    [Fact]
    public async Task A_cancelled_waiting_writer_drops_its_batch_and_lets_the_next_one_in()
    {
        var q = Queue(10, FullPolicy.Backpressure);
        Assert.True(await q.WriteAsync(Batch(10)));
        using var cts = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => q.WriteAsync(Batch(9), cts.Token).AsTask());
        Assert.Equal([(9, "cancelled")], _drops);
        var next = q.WriteAsync(Batch(2)).AsTask();
        await q.ReadAsync();
        Assert.True(await next);
    }

    [Fact]
    public async Task Reader_waits_for_a_write()
    {
        var q = Queue(10, FullPolicy.Backpressure);
        var read = q.ReadAsync().AsTask();
        await Task.Delay(20);
        Assert.False(read.IsCompleted);
        await q.WriteAsync(Batch(1));
        Assert.Equal(1, (await read)!.Count);
    }
}
