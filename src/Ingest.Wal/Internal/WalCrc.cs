using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ingest.Wal;

/// <summary>
/// CRC-32C (Castagnoli; initial value and final xor 0xFFFFFFFF) on <see cref="BitOperations.Crc32C(uint, ulong)"/>,
/// which uses the CPU's crc32 instruction where there is one. A record's checksum covers its payload followed by
/// its 8 sequence bytes: appenders checksum the payload on their own thread before the writer assigns the
/// sequence, and the writer only folds the sequence in.
/// </summary>
internal static class WalCrc
{
    public const uint Initial = 0xFFFF_FFFF;

    /// <summary>Continues a running (not yet finished) CRC over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint i = 0;
        for (; length - i >= 32; i += 32)
        {
            crc = BitOperations.Crc32C(crc, Load(ref start, i));
            crc = BitOperations.Crc32C(crc, Load(ref start, i + 8));
            crc = BitOperations.Crc32C(crc, Load(ref start, i + 16));
            crc = BitOperations.Crc32C(crc, Load(ref start, i + 24));
        }
        for (; length - i >= 8; i += 8)
            crc = BitOperations.Crc32C(crc, Load(ref start, i));
        for (; i < length; i++)
            crc = BitOperations.Crc32C(crc, Unsafe.Add(ref start, i));
        return crc;
    }

    /// <summary>Folds the sequence into a running payload CRC and finishes it.</summary>
    public static uint Complete(uint payloadCrc, long sequence) => ~BitOperations.Crc32C(payloadCrc, (ulong)sequence);

    /// <summary>The stored checksum of a record.</summary>
    public static uint Compute(ReadOnlySpan<byte> payload, long sequence) => Complete(Update(Initial, payload), sequence);

    /// <summary>Standard CRC-32C of a byte string (for tests against the published check value).</summary>
    public static uint OfBytes(ReadOnlySpan<byte> data) => ~Update(Initial, data);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load(ref byte start, nuint offset) =>
        BinaryPrimitives.ReadUInt64LittleEndian(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref start, offset), 8));
}
