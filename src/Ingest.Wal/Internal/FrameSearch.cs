using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

/// <summary>
/// Finds where valid records resume after damage in a segment. The frame format has no header checksum, so a
/// candidate must pass three tests that garbage practically never passes together: a length that stays inside
/// the file, a sequence that is possible at that offset, and the record's CRC-32C (over payload and sequence).
/// </summary>
/// <remarks>
/// The sequence test is what makes a byte-by-byte search safe. The damaged region starts where record
/// <c>expected</c> starts, and every record takes at least a header, so a record found <c>d</c> bytes further
/// on has a sequence between <c>expected</c> and <c>expected + d / 16</c>: eight bytes of garbage must land in
/// that narrow window before the CRC is even computed. The CRC covers the sequence, so a header whose sequence
/// field happens to be plausible still fails unless its 32-bit checksum matches the bytes that follow.
/// </remarks>
internal static class FrameSearch
{
    /// <summary>
    /// The first offset in [<paramref name="from"/>, <paramref name="limit"/>) holding a valid record whose
    /// sequence is possible there and below <paramref name="sequenceCap"/>. <paramref name="from"/> is where the
    /// record <paramref name="expected"/> should have started.
    /// </summary>
    public static bool TryFind(SafeFileHandle file, FrameReader reader, byte[] window, long from, long limit,
        long expected, long sequenceCap, out long offset, out long sequence)
    {
        // Damage inside a record's payload leaves its length field intact: the successor is where the length
        // says. Trying that first also keeps the search from landing on record-like bytes inside that payload.
        Span<byte> header = stackalloc byte[WalFormat.RecordHeaderSize];
        if (limit - from >= WalFormat.RecordHeaderSize && ReadFully(file, header, from) == header.Length)
        {
            WalFormat.ReadRecordHeader(header, out uint length, out _, out _);
            long next = from + WalFormat.RecordHeaderSize + length;
            if (length <= WalFormat.MaxPayloadBytes && next < limit && expected + 1 < sequenceCap
                && Verifies(file, reader, next, limit, expected + 1))
            {
                offset = next;
                sequence = expected + 1;
                return true;
            }
        }

        // Byte by byte. Consecutive windows overlap by a header less one byte, so every offset with a whole
        // header before the limit is looked at exactly once.
        long chunkStart = from;
        while (limit - chunkStart >= WalFormat.RecordHeaderSize)
        {
            int count = ReadFully(file, window.AsSpan(0, (int)Math.Min(window.Length, limit - chunkStart)), chunkStart);
            if (count < WalFormat.RecordHeaderSize)
                break;
            for (int i = 0; i <= count - WalFormat.RecordHeaderSize; i++)
            {
                long at = chunkStart + i;
                long candidate = BinaryPrimitives.ReadInt64LittleEndian(window.AsSpan(i + 8));
                // Unsigned: a candidate below expected wraps around to a huge distance and is refused too.
                if ((ulong)(candidate - expected) > (ulong)((at - from) / WalFormat.RecordHeaderSize) || candidate >= sequenceCap)
                    continue;
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(window.AsSpan(i));
                if (length > WalFormat.MaxPayloadBytes || at + WalFormat.RecordHeaderSize + length > limit)
                    continue;
                if (Verifies(file, reader, at, limit, candidate))
                {
                    offset = at;
                    sequence = candidate;
                    return true;
                }
            }
            chunkStart += count - (WalFormat.RecordHeaderSize - 1);
        }

        offset = limit;
        sequence = 0;
        return false;
    }

    private static bool Verifies(SafeFileHandle file, FrameReader reader, long at, long limit, long sequence)
    {
        reader.Reset(file, at, limit);
        return reader.TryRead(sequence, verifyChecksum: true, out _) == FrameStatus.Ok;
    }

    internal static int ReadFully(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(file, buffer[total..], offset + total);
            if (read == 0)
                break;
            total += read;
        }
        return total;
    }
}
