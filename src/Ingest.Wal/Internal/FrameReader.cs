using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

internal enum FrameStatus
{
    /// <summary>A valid record was read.</summary>
    Ok,

    /// <summary>The position is exactly at the limit: no more records.</summary>
    End,

    /// <summary>A record header or payload extends past the limit (or past the end of the file).</summary>
    Truncated,

    /// <summary>The length field is beyond <see cref="WalFormat.MaxPayloadBytes"/>.</summary>
    BadLength,

    /// <summary>The record's sequence is not the one expected.</summary>
    BadSequence,

    /// <summary>The checksum does not match.</summary>
    BadChecksum,
}

/// <summary>
/// Reads record frames of one segment sequentially through a pooled buffer, never past a limit (the
/// bytes beyond the published length of the segment being written may be half written). Not thread-safe.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private const int InitialBufferBytes = 256 * 1024;

    private byte[] _buffer;
    private SafeFileHandle? _file;
    private long _bufferFileOffset;
    private int _bufferCount;
    private long _position;
    private long _limit;

    public FrameReader(int initialBufferBytes = InitialBufferBytes)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(initialBufferBytes);
    }

    /// <summary>File offset of the next frame (of the bad frame after a failed <see cref="TryRead"/>).</summary>
    public long Position => _position;

    public long Limit => _limit;

    public void Reset(SafeFileHandle file, long position, long limit)
    {
        _file = file;
        _position = position;
        _limit = limit;
        _bufferFileOffset = position;
        _bufferCount = 0;
    }

    /// <summary>Lets the reader go on to <paramref name="limit"/> (the segment grew).</summary>
    public void ExtendLimit(long limit)
    {
        if (limit > _limit)
            _limit = limit;
    }

    /// <summary>
    /// Reads the frame at <see cref="Position"/> and, when it is valid and carries
    /// <paramref name="expectedSequence"/>, moves past it. <paramref name="payload"/> is valid until the next call.
    /// </summary>
    public FrameStatus TryRead(long expectedSequence, bool verifyChecksum, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        long remaining = _limit - _position;
        if (remaining <= 0)
            return FrameStatus.End;
        if (remaining < WalFormat.RecordHeaderSize || !Ensure(WalFormat.RecordHeaderSize))
            return FrameStatus.Truncated;

        int at = (int)(_position - _bufferFileOffset);
        WalFormat.ReadRecordHeader(_buffer.AsSpan(at, WalFormat.RecordHeaderSize), out uint length, out uint crc, out long sequence);
        if (length > WalFormat.MaxPayloadBytes)
            return FrameStatus.BadLength;
        int frame = WalFormat.RecordHeaderSize + (int)length;
        if (frame > remaining)
            return FrameStatus.Truncated;
        if (sequence != expectedSequence)
            return FrameStatus.BadSequence;
        if (!Ensure(frame))
            return FrameStatus.Truncated;

        at = (int)(_position - _bufferFileOffset);
        var body = new ReadOnlyMemory<byte>(_buffer, at + WalFormat.RecordHeaderSize, (int)length);
        if (verifyChecksum && WalCrc.Compute(body.Span, sequence) != crc)
            return FrameStatus.BadChecksum;
        payload = body;
        _position += frame;
        return FrameStatus.Ok;
    }

    /// <summary>Makes <paramref name="needed"/> bytes from <see cref="Position"/> available in the buffer.</summary>
    private bool Ensure(int needed)
    {
        int offset = (int)(_position - _bufferFileOffset);
        if (offset + needed <= _bufferCount)
            return true;

        int keep = _bufferCount - offset;
        if (needed > _buffer.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(needed);
            Buffer.BlockCopy(_buffer, offset, larger, 0, keep);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        else if (keep > 0 && offset > 0)
        {
            Buffer.BlockCopy(_buffer, offset, _buffer, 0, keep);
        }
        _bufferFileOffset = _position;
        _bufferCount = keep;

        while (_bufferCount < needed)
        {
            long readAt = _bufferFileOffset + _bufferCount;
            int toRead = (int)Math.Min(_buffer.Length - _bufferCount, _limit - readAt);
            if (toRead <= 0)
                return false;
            int read = RandomAccess.Read(_file!, _buffer.AsSpan(_bufferCount, toRead), readAt);
            if (read == 0)
                return false;
            _bufferCount += read;
        }
        return true;
    }

    public void Dispose()
    {
        byte[] buffer = _buffer;
        _buffer = [];
        _file = null;
        if (buffer.Length > 0)
            ArrayPool<byte>.Shared.Return(buffer);
    }
}
