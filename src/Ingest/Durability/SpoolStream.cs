using System.Buffers;
using System.Collections.Concurrent;

namespace Ingest.Durability;

/// <summary>
/// A write-only stream that keeps what is written in pooled chunks, for another thread to write out with
/// <see cref="DrainTo"/>. A snapshot of the windows is written into it while the transforms run (a window is written
/// the moment it is about to change), and that path must neither block on the disk nor fail with a disk error.
/// </summary>
internal sealed class SpoolStream : Stream
{
    private readonly ConcurrentQueue<(byte[] Chunk, int Length)> _chunks = new();
    private long _length;

    /// <summary>Bytes written to it so far.</summary>
    public override long Length => Interlocked.Read(ref _length);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.IsEmpty) return;
        var chunk = ArrayPool<byte>.Shared.Rent(buffer.Length);
        buffer.CopyTo(chunk);
        _chunks.Enqueue((chunk, buffer.Length));
        Interlocked.Add(ref _length, buffer.Length);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes the chunks queued so far to <paramref name="target"/>, in order.</summary>
    public void DrainTo(Stream target)
    {
        while (_chunks.TryDequeue(out var c))
        {
            try
            {
                target.Write(c.Chunk, 0, c.Length);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(c.Chunk);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        while (_chunks.TryDequeue(out var c)) ArrayPool<byte>.Shared.Return(c.Chunk);
        base.Dispose(disposing);
    }

    public override void Flush() { }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Position { get => Length; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
