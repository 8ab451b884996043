using System.Buffers;
using System.Runtime.InteropServices;

namespace Ingest.LineProtocol.Tests;

/// <summary>
/// Large buffers never go to the shared pool, which would keep them for good: a burst of large bodies once left
/// gigabytes rooted there after its requests were done.
/// </summary>
public class ByteBuffersTests
{
    [Theory]
    [InlineData(1, 16)]
    [InlineData(1000, 1024)]
    [InlineData(ByteBuffers.MaxPooledLength, ByteBuffers.MaxPooledLength)]
    [InlineData(ByteBuffers.MaxPooledLength + 1, ByteBuffers.MaxPooledLength + 1)]
    [InlineData(3_000_000, 3_000_000)]
    public void Rent_gives_the_length_announced(int asked, int length)
    {
        Assert.Equal(length, ByteBuffers.LengthFor(asked));
        var array = ByteBuffers.Rent(asked);
        Assert.Equal(length, array.Length);
        ByteBuffers.Return(array);
    }

    [Fact]
    public void A_large_array_given_back_is_not_pooled_but_a_small_one_is()
    {
        var large = ByteBuffers.Rent(ByteBuffers.MaxPooledLength * 2);
        ByteBuffers.Return(large);
        Assert.NotSame(large, ArrayPool<byte>.Shared.Rent(large.Length));

        var small = ByteBuffers.Rent(4096);
        ByteBuffers.Return(small);
        Assert.Same(small, ArrayPool<byte>.Shared.Rent(4096));
    }

    [Fact]
    public void A_batch_outgrowing_a_large_buffer_does_not_hand_it_to_the_shared_pool()
    {
        var batch = new PointBatch();
        batch.GetSpan(2_000_000);
        batch.Advance(2_000_000);
        Assert.True(MemoryMarshal.TryGetArray(batch.DataMemory, out var segment));
        var outgrown = segment.Array!;

        batch.GetSpan(outgrown.Length);
        Assert.NotSame(outgrown, ArrayPool<byte>.Shared.Rent(outgrown.Length));
        Assert.Equal(2_000_000, batch.ByteLength);
    }
}
