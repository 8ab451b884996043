using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Ingest.Transforms.Snapshots;

/// <summary>
/// Reads what <see cref="StateWriter"/> wrote: <paramref name="payloadLength"/> bytes of values, then the 4-byte
/// CRC-32C, which <see cref="Complete"/> checks. Every read that runs past the payload, a varint longer than 64 bits
/// and a length beyond what is left throw <see cref="FormatException"/>.
/// </summary>
/// <remarks>
/// Values are handed out before the checksum has been checked (it covers the whole payload): the caller builds its
/// state aside and keeps it only once <see cref="Complete"/> has returned.
/// </remarks>
public sealed class StateReader : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly Stream _stream;
    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private byte[] _scratch = new byte[256];
    private int _position, _filled;
    private long _unread;
    private uint _crc = Crc32C.Initial;

    /// <param name="stream">Positioned at the first payload byte.</param>
    /// <param name="payloadLength">Bytes of values before the 4-byte checksum.</param>
    public StateReader(Stream stream, long payloadLength)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        _unread = payloadLength;
    }

    /// <summary>Payload bytes not read yet.</summary>
    public long Remaining => _unread + _filled - _position;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadByte()
    {
        if (_position == _filled) Fill();
        return _buffer![_position++];
    }

    public bool ReadBool() => ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new FormatException($"snapshot: {b} where a flag (0 or 1) was expected"),
    };

    public ulong ReadVarint()
    {
        if (_filled - _position >= 10)
        {
            // The common case, a whole varint in the buffer: no refill checks per byte.
            var buffer = _buffer!;
            int position = _position;
            ulong fast = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = buffer[position++];
                fast |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    _position = position;
                    return fast;
                }
            }
            throw new FormatException("snapshot: a varint longer than 64 bits");
        }
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = ReadByte();
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new FormatException("snapshot: a varint longer than 64 bits");
    }

    public long ReadSigned()
    {
        ulong v = ReadVarint();
        return (long)(v >> 1) ^ -(long)(v & 1);
    }

    /// <summary>A varint that must be a count or index below <paramref name="limit"/>.</summary>
    public int ReadCount(int limit, string what)
    {
        ulong v = ReadVarint();
        if (v >= (ulong)limit) throw new FormatException($"snapshot: {what} {v} is out of range (below {limit} expected)");
        return (int)v;
    }

    public double ReadDouble()
    {
        if (_filled - _position >= 8)
        {
            double d = BinaryPrimitives.ReadDoubleLittleEndian(_buffer.AsSpan(_position));
            _position += 8;
            return d;
        }
        Span<byte> bytes = stackalloc byte[8];
        for (int i = 0; i < 8; i++) bytes[i] = ReadByte();
        return BinaryPrimitives.ReadDoubleLittleEndian(bytes);
    }

    /// <summary>A length-prefixed byte string; the span is valid until the next read.</summary>
    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)Remaining) throw new FormatException($"snapshot: a string of {length} bytes where only {Remaining} are left");
        int n = (int)length;
        if (_scratch.Length < n) _scratch = new byte[Math.Max(n, _scratch.Length * 2)];
        for (int copied = 0; copied < n;)
        {
            if (_position == _filled) Fill();
            int take = Math.Min(n - copied, _filled - _position);
            _buffer.AsSpan(_position, take).CopyTo(_scratch.AsSpan(copied));
            _position += take;
            copied += take;
        }
        return _scratch.AsSpan(0, n);
    }

    public string ReadString()
    {
        var bytes = ReadBytes();
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new FormatException("snapshot: a name that is not UTF-8", e);
        }
    }

    /// <summary>Checks that the whole payload was read and that the checksum after it matches.</summary>
    public void Complete()
    {
        if (Remaining != 0) throw new FormatException($"snapshot: {Remaining} bytes left unread before the checksum");
        Span<byte> trailer = stackalloc byte[4];
        _stream.ReadExactly(trailer);
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        uint computed = Crc32C.Finish(_crc);
        if (stored != computed) throw new FormatException($"snapshot: checksum {stored:x8} does not match the content ({computed:x8})");
    }

    private void Fill()
    {
        if (_unread == 0) throw new FormatException("snapshot: the content ends early");
        int want = (int)Math.Min(BufferSize, _unread);
        int n = _stream.ReadAtLeast(_buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
        if (n < want) throw new FormatException("snapshot: the file ends early");
        _crc = Crc32C.Update(_crc, _buffer.AsSpan(0, n));
        _unread -= n;
        _position = 0;
        _filled = n;
    }

    public void Dispose()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }
}
