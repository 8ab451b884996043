using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ingest.LineProtocol;

/// <summary>
/// The 64-bit series hash stored in <see cref="PointRef.SeriesHash"/>. It follows the short-input path of
/// xxHash64 (8-byte words, then a 4-byte word, then single bytes, then an avalanche), read little-endian, so
/// the value is the same on every machine and run: it may be persisted or sent between processes.
/// </summary>
public static class SeriesKeyHash
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime5 = 0x27D4EB2F165667C5UL;

    public static ulong Compute(ReadOnlySpan<byte> key)
    {
        ref byte start = ref MemoryMarshal.GetReference(key);
        int length = key.Length;
        ulong hash = Prime5 + (ulong)length;
        int i = 0;
        for (; i + 8 <= length; i += 8)
        {
            ulong word = ReadUInt64(ref Unsafe.Add(ref start, i));
            word *= Prime2;
            word = BitOperations.RotateLeft(word, 31);
            word *= Prime1;
            hash ^= word;
            hash = BitOperations.RotateLeft(hash, 27) * Prime1 + Prime4;
        }
        if (i + 4 <= length)
        {
            uint word = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, i));
            if (!BitConverter.IsLittleEndian) word = BinaryPrimitives.ReverseEndianness(word);
            hash ^= word * Prime1;
            hash = BitOperations.RotateLeft(hash, 23) * Prime2 + Prime3;
            i += 4;
        }
        for (; i < length; i++)
        {
            hash ^= Unsafe.Add(ref start, i) * Prime5;
            hash = BitOperations.RotateLeft(hash, 11) * Prime1;
        }
        hash ^= hash >> 33;
        hash *= Prime2;
        hash ^= hash >> 29;
        hash *= Prime3;
        hash ^= hash >> 32;
        return hash;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadUInt64(ref byte at)
    {
        ulong word = Unsafe.ReadUnaligned<ulong>(ref at);
        return BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word);
    }
}
