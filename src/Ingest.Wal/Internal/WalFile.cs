using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

/// <summary>The operations the writer performs on a segment file, so that tests can inject failures.</summary>
internal interface IWalFile : IDisposable
{
    /// <summary>Writes all of <paramref name="data"/> at <paramref name="fileOffset"/> (pwrite, retried on short writes).</summary>
    void Write(ReadOnlySpan<byte> data, long fileOffset);

    /// <summary>
    /// Writes <paramref name="parts"/> one after another from <paramref name="fileOffset"/>. Unless a file does
    /// better (the operating system's file gathers them in one pwritev), they are joined and written at once.
    /// </summary>
    void Write(IReadOnlyList<ReadOnlyMemory<byte>> parts, long fileOffset)
    {
        int length = 0;
        foreach (var part in parts) length += part.Length;
        var joined = new byte[length];
        int at = 0;
        foreach (var part in parts)
        {
            part.Span.CopyTo(joined.AsSpan(at));
            at += part.Length;
        }
        Write(joined, fileOffset);
    }

    /// <summary>fsync.</summary>
    void Flush();

    void SetLength(long length);
}

/// <summary>A segment file as the operating system gives it.</summary>
internal sealed class OsWalFile(SafeFileHandle handle) : IWalFile
{
    public SafeFileHandle Handle { get; } = handle;

    public void Write(ReadOnlySpan<byte> data, long fileOffset) => RandomAccess.Write(Handle, data, fileOffset);

    public void Write(IReadOnlyList<ReadOnlyMemory<byte>> parts, long fileOffset) => RandomAccess.Write(Handle, parts, fileOffset);

    public void Flush() => RandomAccess.FlushToDisk(Handle);

    public void SetLength(long length) => RandomAccess.SetLength(Handle, length);

    public void Dispose() => Handle.Dispose();
}

/// <summary>Test hooks (reachable through InternalsVisibleTo only).</summary>
internal sealed class WalTestHooks
{
    /// <summary>
    /// Called for every segment file the writer opens (path, the real file); whatever it returns is used instead,
    /// so a test can pass writes through to the real file and fail some of them.
    /// </summary>
    public Func<string, IWalFile, IWalFile>? WrapSegmentFile { get; init; }
}
