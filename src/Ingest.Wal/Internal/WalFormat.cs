using System.Buffers.Binary;
using System.Globalization;

namespace Ingest.Wal;

/// <summary>
/// The on-disk layout (all integers little-endian).
/// Segment header, 16 bytes: <c>u32 magic "IWAL"</c>, <c>u16 version (1)</c>, <c>u16 header size (16)</c>,
/// <c>u64 first sequence</c> (equal to the sequence in the file name).
/// Record, 16 bytes then the payload: <c>u32 payload length</c>, <c>u32 crc32c</c>, <c>u64 sequence</c>.
/// </summary>
internal static class WalFormat
{
    public const int SegmentHeaderSize = 16;
    public const int RecordHeaderSize = 16;
    public const ushort Version = 1;

    /// <summary>"IWAL" in file order.</summary>
    public const uint Magic = 'I' | ('W' << 8) | ('A' << 16) | ((uint)'L' << 24);

    /// <summary>Largest payload accepted by an append and believed by a reader.</summary>
    public const int MaxPayloadBytes = 256 << 20;

    public const string SegmentSuffix = ".wal";
    public const string CorruptSuffix = ".wal.corrupt";
    public const string DamagedInfix = ".damaged-";
    public const string RepairSuffix = ".repairing";
    public const string CheckpointFileName = "checkpoints.json";
    public const string LockFileName = "wal.lock";
    private const int SequenceDigits = 20;

    public static long FrameSize(int payloadLength) => RecordHeaderSize + (long)payloadLength;

    public static string SegmentFileName(long firstSequence) =>
        firstSequence.ToString("D20", CultureInfo.InvariantCulture) + SegmentSuffix;

    /// <summary>Parses <c>{sequence:D20}.wal</c>; anything else (including <c>*.wal.corrupt</c>) is not a segment.</summary>
    public static bool TryParseSegmentFileName(string fileName, out long firstSequence)
    {
        firstSequence = 0;
        if (fileName.Length != SequenceDigits + SegmentSuffix.Length
            || !fileName.EndsWith(SegmentSuffix, StringComparison.Ordinal))
            return false;
        ReadOnlySpan<char> digits = fileName.AsSpan(0, SequenceDigits);
        foreach (char c in digits)
            if (c is < '0' or > '9')
                return false;
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out firstSequence)
            && firstSequence > 0;
    }

    public static void WriteSegmentHeader(Span<byte> destination, long firstSequence)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], SegmentHeaderSize);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], firstSequence);
    }

    public static bool IsValidSegmentHeader(ReadOnlySpan<byte> header, long expectedFirstSequence) =>
        header.Length >= SegmentHeaderSize
        && BinaryPrimitives.ReadUInt32LittleEndian(header) == Magic
        && BinaryPrimitives.ReadUInt16LittleEndian(header[4..]) == Version
        && BinaryPrimitives.ReadUInt16LittleEndian(header[6..]) == SegmentHeaderSize
        && BinaryPrimitives.ReadInt64LittleEndian(header[8..]) == expectedFirstSequence;

    public static void WriteRecordHeader(Span<byte> destination, int payloadLength, uint crc, long sequence)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], crc);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], sequence);
    }

    public static void ReadRecordHeader(ReadOnlySpan<byte> source, out uint payloadLength, out uint crc, out long sequence)
    {
        payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(source);
        crc = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]);
        sequence = BinaryPrimitives.ReadInt64LittleEndian(source[8..]);
    }
}
