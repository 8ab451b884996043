using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Ingest.Transforms.Snapshots;

/// <summary>
/// CRC-32C (Castagnoli; initial value and final xor 0xFFFFFFFF) on the CPU's crc32 instruction where there is one,
/// the same checksum the write-ahead log's records carry.
/// </summary>
internal static class Crc32C
{
    public const uint Initial = 0xFFFF_FFFF;

    /// <summary>Continues a running (not yet finished) CRC over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var word in words) crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        foreach (var b in data[(words.Length * 8)..]) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    /// <summary>The finished checksum of a running CRC.</summary>
    public static uint Finish(uint crc) => ~crc;
}
