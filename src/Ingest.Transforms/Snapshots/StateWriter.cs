using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Ingest.Transforms.Snapshots;

/// <summary>
/// Writes a state snapshot to a stream: unsigned LEB128 varints, zigzag varints for signed values, doubles as
/// 8 little-endian bytes, byte strings with a varint length. Buffered (1 MiB); a running CRC-32C covers every
/// byte, and <see cref="Complete"/> appends it, so that <see cref="StateReader"/> can refuse a damaged file.
/// </summary>
/// <remarks>Not thread-safe. Nothing is allocated per value: a snapshot of millions of windows costs one buffer.</remarks>
public sealed class StateWriter : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly Stream _stream;
    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _used;
    private long _flushed;
    private uint _crc = Crc32C.Initial;

    public StateWriter(Stream stream) => _stream = stream ?? throw new ArgumentNullException(nameof(stream));

    /// <summary>Bytes written so far (buffered ones included).</summary>
    public long Position => _flushed + _used;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteByte(byte value)
    {
        if (_used == BufferSize) Drain();
        _buffer![_used++] = value;
    }

    public void WriteBool(bool value) => WriteByte(value ? (byte)1 : (byte)0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteVarint(ulong value)
    {
        if (BufferSize - _used < 10) Drain();
        var buffer = _buffer!;
        int used = _used;
        while (value >= 0x80)
        {
            buffer[used++] = (byte)(value | 0x80);
            value >>= 7;
        }
        buffer[used++] = (byte)value;
        _used = used;
    }

    /// <summary>A signed value, zigzag-encoded so that small magnitudes of either sign stay short.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteSigned(long value) => WriteVarint((ulong)((value << 1) ^ (value >> 63)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteDouble(double value)
    {
        if (BufferSize - _used < 8) Drain();
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.AsSpan(_used), value);
        _used += 8;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        WriteVarint((ulong)bytes.Length);
        while (bytes.Length > 0)
        {
            if (_used == BufferSize) Drain();
            int n = Math.Min(bytes.Length, BufferSize - _used);
            bytes[..n].CopyTo(_buffer.AsSpan(_used));
            _used += n;
            bytes = bytes[n..];
        }
    }

    public void WriteString(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        byte[]? rented = length > 256 ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> bytes = rented ?? stackalloc byte[256];
        int n = Encoding.UTF8.GetBytes(value, bytes);
        WriteBytes(bytes[..n]);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>Writes out what is buffered, then the CRC-32C of everything written (4 bytes, not itself checksummed).</summary>
    public void Complete()
    {
        Drain();
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32C.Finish(_crc));
        _stream.Write(trailer);
        _stream.Flush();
    }

    private void Drain()
    {
        if (_used == 0) return;
        var chunk = _buffer.AsSpan(0, _used);
        _crc = Crc32C.Update(_crc, chunk);
        _stream.Write(chunk);
        _flushed += _used;
        _used = 0;
    }

    public void Dispose()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }
}
