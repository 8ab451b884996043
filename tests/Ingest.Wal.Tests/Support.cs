using System.Buffers.Binary;

namespace Ingest.Wal.Tests;

/// <summary>A fresh directory under the temp path, deleted with everything in it on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ingest-wal-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Segment files in sequence order.</summary>
    public string[] Segments() =>
        Directory.GetFiles(Path, "*.wal").Where(f => System.IO.Path.GetFileName(f).Length == 24).Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Wal
{
    public static WalOptions Options(TempDirectory dir, long segmentBytes = 64L << 20, long maxBytes = 4L << 30,
        WalSyncMode mode = WalSyncMode.PerWrite, TimeSpan? syncInterval = null, TimeSpan? checkpointInterval = null,
        WalTestHooks? hooks = null) => new()
        {
            Directory = dir.Path,
            SegmentBytes = segmentBytes,
            MaxBytes = maxBytes,
            SyncMode = mode,
            SyncInterval = syncInterval ?? TimeSpan.FromMilliseconds(100),
            CheckpointFlushInterval = checkpointInterval ?? TimeSpan.FromSeconds(1),
            TestHooks = hooks,
        };

    /// <summary>A payload that identifies <paramref name="id"/>: its id in the first 8 bytes (when it fits), then a pattern.</summary>
    public static byte[] Payload(long id, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)(id * 31 + i * 7 + (i >> 8));
        if (length >= 8)
            BinaryPrimitives.WriteInt64LittleEndian(bytes, id);
        return bytes;
    }

    /// <summary>Every record from <paramref name="from"/>, payloads copied.</summary>
    public static List<(long Sequence, byte[] Payload)> ReadAll(WriteAheadLog log, long from = 1) =>
        log.ReadFrom(from).Select(r => (r.Sequence, r.Payload.ToArray())).ToList();

    public static async Task<long[]> AppendMany(WriteAheadLog log, IEnumerable<byte[]> payloads)
    {
        var sequences = new List<long>();
        foreach (byte[] payload in payloads)
            sequences.Add(await log.AppendAsync(payload));
        return sequences.ToArray();
    }

    public static long FrameSize(int payload) => 16 + payload;
}

/// <summary>What the <see cref="FaultyFile"/>s of one log should do; shared by every segment file.</summary>
internal sealed class FaultPlan
{
    private int _failWrites;
    private int _failFlushes;

    /// <summary>Bytes of a failing write that reach the file before the error (a partly written record).</summary>
    public int PartialBytes { get; set; }

    /// <summary>Fail only writes at offset 0 (segment headers, i.e. creating a segment).</summary>
    public bool OnlyHeaderWrites { get; set; }

    public Exception WriteError { get; set; } = new IOException("No space left on device", 28);

    public Exception FlushError { get; set; } = new IOException("Input/output error", 5);

    public int FailedWrites;
    public int FailedFlushes;

    public void FailNextWrites(int count) => Volatile.Write(ref _failWrites, count);

    public void FailNextFlushes(int count) => Volatile.Write(ref _failFlushes, count);

    public bool TakeWriteFailure(long offset)
    {
        if (OnlyHeaderWrites && offset != 0)
            return false;
        return TryTake(ref _failWrites);
    }

    public bool TakeFlushFailure() => TryTake(ref _failFlushes);

    private static bool TryTake(ref int counter)
    {
        while (true)
        {
            int current = Volatile.Read(ref counter);
            if (current <= 0)
                return false;
            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current)
                return true;
        }
    }

    public WalTestHooks Hooks() => new() { WrapSegmentFile = (_, file) => new FaultyFile(file, this) };
}

/// <summary>Passes everything to the real file except the failures its plan asks for.</summary>
internal sealed class FaultyFile(IWalFile inner, FaultPlan plan) : IWalFile
{
    public void Write(ReadOnlySpan<byte> data, long fileOffset)
    {
        if (plan.TakeWriteFailure(fileOffset))
        {
            Interlocked.Increment(ref plan.FailedWrites);
            int partial = Math.Min(plan.PartialBytes, data.Length);
            if (partial > 0)
                inner.Write(data[..partial], fileOffset);
            throw plan.WriteError;
        }
        inner.Write(data, fileOffset);
    }

    public void Flush()
    {
        if (plan.TakeFlushFailure())
        {
            Interlocked.Increment(ref plan.FailedFlushes);
            throw plan.FlushError;
        }
        inner.Flush();
    }

    public void SetLength(long length) => inner.SetLength(length);

    public void Dispose() => inner.Dispose();
}
