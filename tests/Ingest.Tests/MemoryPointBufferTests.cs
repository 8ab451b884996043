using Ingest.Buffering;
using Ingest.LineProtocol;

namespace Ingest.Tests;

public class MemoryPointBufferTests
{
    private static PointBatch Batch(int points)
    {
        var b = new PointBatch();
        for (var i = 0; i < points; i++)
        {
            var line = "m v=1 1\n"u8;
            var offset = b.ByteLength;
            line.CopyTo(b.GetSpan(line.Length));
            b.Advance(line.Length);
            b.AddPoint(new PointRef(offset, line.Length, 1, 3, 1, 0));
        }
        return b;
    }

    [Fact]
    public async Task Enqueue_within_capacity_is_immediate_and_counted()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(4), TimeSpan.Zero));
        Assert.True(await buffer.TryEnqueueAsync(Batch(6), TimeSpan.Zero));
        Assert.Equal(10, buffer.Depth);
    }

    [Fact]
    public async Task Full_buffer_refuses_after_the_wait()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(8), TimeSpan.Zero));
        var started = DateTime.UtcNow;
        Assert.False(await buffer.TryEnqueueAsync(Batch(5), TimeSpan.FromMilliseconds(200)));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(150));
        Assert.Equal(8, buffer.Depth);
    }

    [Fact]
    public async Task Release_admits_a_waiting_writer()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(8), TimeSpan.Zero));
        var waiting = buffer.TryEnqueueAsync(Batch(5), TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        buffer.Release(8);
        Assert.True(await waiting);
        Assert.Equal(5, buffer.Depth);
    }

    [Fact]
    public async Task Waiters_are_admitted_in_arrival_order()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(10), TimeSpan.Zero));
        var big = buffer.TryEnqueueAsync(Batch(9), TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(20);
        var small = buffer.TryEnqueueAsync(Batch(1), TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(20);
        buffer.Release(5);
        await Task.Delay(50);
        // The small batch would fit but must not overtake the big one queued before it,
        // and neither may a newcomer that fits.
        Assert.False(small.IsCompleted);
        Assert.False(await buffer.TryEnqueueAsync(Batch(1), TimeSpan.Zero));
        buffer.Release(5);
        Assert.True(await big);
        Assert.True(await small);
        Assert.Equal(10, buffer.Depth);
    }

    [Fact]
    public async Task Batch_larger_than_capacity_is_admitted_into_an_empty_buffer()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(25), TimeSpan.Zero));
        Assert.False(await buffer.TryEnqueueAsync(Batch(1), TimeSpan.Zero));
    }

    [Fact]
    public async Task Complete_refuses_new_batches_and_ends_the_reader_after_draining()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(3), TimeSpan.Zero));
        buffer.Complete();
        Assert.False(await buffer.TryEnqueueAsync(Batch(1), TimeSpan.Zero));
        var seen = 0;
        await foreach (var b in buffer.ReadAllAsync(CancellationToken.None)) seen += b.Count;
        Assert.Equal(3, seen);
    }

    [Fact]
    public async Task Timed_out_waiter_does_not_block_those_behind_it()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryEnqueueAsync(Batch(5), TimeSpan.Zero));
        var big = buffer.TryEnqueueAsync(Batch(9), TimeSpan.FromMilliseconds(100)).AsTask();
        await Task.Delay(10);
        var small = buffer.TryEnqueueAsync(Batch(2), TimeSpan.FromSeconds(10)).AsTask();
        Assert.False(await big);
        Assert.True(await small);
        Assert.Equal(7, buffer.Depth);
    }

    [Fact]
    public async Task A_reservation_holds_room_until_its_batch_comes_and_queues_with_the_writers()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryReserveAsync(6, TimeSpan.Zero));
        Assert.Equal(6, buffer.Depth);
        // Room reserved is taken: a batch that would fit without it waits, and a reservation queues behind it.
        Assert.False(await buffer.TryEnqueueAsync(Batch(5), TimeSpan.Zero));
        var writer = buffer.TryEnqueueAsync(Batch(5), TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(20);
        var reservation = buffer.TryReserveAsync(1, TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(20);
        Assert.False(reservation.IsCompleted);

        var reserved = Batch(6);
        Assert.True(buffer.EnqueueReserved(reserved));
        Assert.Equal(6, buffer.Depth);
        buffer.Release(6);
        Assert.True(await writer);
        Assert.True(await reservation);
        Assert.Equal(6, buffer.Depth);

        buffer.Complete();
        var seen = new List<int>();
        await foreach (var b in buffer.ReadAllAsync(CancellationToken.None)) seen.Add(b.Count);
        Assert.Equal([6, 5], seen);
    }

    [Fact]
    public async Task A_reservation_given_back_or_outlived_by_the_buffer_frees_its_room()
    {
        var buffer = new MemoryPointBuffer(10);
        Assert.True(await buffer.TryReserveAsync(8, TimeSpan.Zero));
        Assert.False(await buffer.TryReserveAsync(5, TimeSpan.FromMilliseconds(50)));
        buffer.Release(8); // the log refused the write: its room goes back
        Assert.Equal(0, buffer.Depth);

        Assert.True(await buffer.TryReserveAsync(4, TimeSpan.Zero));
        buffer.Complete();
        // Stopping between the reservation and the enqueue: the batch stays the caller's, the room is freed.
        Assert.False(buffer.EnqueueReserved(Batch(4)));
        Assert.Equal(0, buffer.Depth);
    }
}
