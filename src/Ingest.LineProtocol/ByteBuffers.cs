using System.Buffers;
using System.Numerics;

namespace Ingest.LineProtocol;

/// <summary>
/// Byte arrays for request bodies and batches: small ones from <see cref="ArrayPool{T}.Shared"/>, large ones
/// allocated for the occasion and left to the GC.
/// </summary>
/// <remarks>
/// The shared pool keeps dozens of arrays of every size it is handed back, per core, and lets go of them only
/// under memory pressure. Handing it the multi-megabyte buffers of a burst of large bodies would keep that
/// memory for good; above <see cref="MaxPooledLength"/> an array is therefore never pooled.
/// </remarks>
public static class ByteBuffers
{
    /// <summary>Largest array taken from and given back to the shared pool.</summary>
    public const int MaxPooledLength = 1 << 20;

    /// <summary>
    /// Length of the array <see cref="Rent"/> returns for <paramref name="minimumLength"/>: the pool's power-of-two
    /// size up to <see cref="MaxPooledLength"/>, the exact length above it. Lets a caller account for memory first.
    /// </summary>
    public static int LengthFor(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        if (minimumLength > MaxPooledLength) return minimumLength;
        return (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, 16));
    }

    /// <summary>An array of exactly <see cref="LengthFor"/>(<paramref name="minimumLength"/>) bytes, not cleared.</summary>
    public static byte[] Rent(int minimumLength)
    {
        int length = LengthFor(minimumLength);
        return length > MaxPooledLength ? GC.AllocateUninitializedArray<byte>(length) : ArrayPool<byte>.Shared.Rent(length);
    }

    /// <summary>Gives back an array from <see cref="Rent"/>; a large one is simply dropped.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length <= MaxPooledLength) ArrayPool<byte>.Shared.Return(array);
    }
}
