using System.Buffers.Binary;
using System.IO.Hashing;

namespace Ingest.Sources.Http;

/// <summary>
/// The request body as it came over the wire, under any decompression: counts its bytes and keeps the last
/// eight, which end a gzip stream with its CRC-32 and length.
/// </summary>
internal sealed class WireStream(Stream inner) : Stream
{
    private ulong _tail;

    public long Count { get; private set; }

    /// <summary>
    /// True when the bytes read end exactly where a gzip member ends: the last eight are the CRC-32 and length
    /// (mod 2^32) of the member, and <paramref name="decompressed"/> ends with that many bytes of that CRC.
    /// </summary>
    /// <remarks>
    /// .NET's GZipStream checks the trailer of each member it finishes, but when the input stops short of it,
    /// mid-block or with the trailer missing, it reports a normal end with what it decoded so far. A cut body
    /// ends on bytes that do not match, so it is told apart here; a body of several members (concatenated gzip)
    /// ends on its last member's trailer, which covers the last ISIZE bytes of the output.
    /// </remarks>
    public bool EndsWithGzipTrailer(ReadOnlySpan<byte> decompressed)
    {
        // The smallest member: 10 bytes of header, an empty 2-byte deflate block, 8 bytes of trailer.
        if (Count < 20) return false;
        uint crc = (uint)_tail;
        uint size = (uint)(_tail >> 32);
        if (size > (uint)decompressed.Length) return false;
        return Crc32.HashToUInt32(decompressed.Slice(decompressed.Length - (int)size)) == crc;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => Count; set => throw new NotSupportedException(); }
    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        Add(buffer.AsSpan(offset, n));
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        Add(buffer.Span.Slice(0, n));
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void Add(ReadOnlySpan<byte> chunk)
    {
        Count += chunk.Length;
        // Byte i of the last eight sits at bits 8i..8i+7, so the trailer's little-endian fields read straight out.
        if (chunk.Length >= 8) _tail = BinaryPrimitives.ReadUInt64LittleEndian(chunk.Slice(chunk.Length - 8));
        else foreach (byte b in chunk) _tail = (_tail >> 8) | ((ulong)b << 56);
    }
}
