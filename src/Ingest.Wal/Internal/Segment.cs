namespace Ingest.Wal;

/// <summary>
/// One segment file. The writer thread owns the <c>Written*</c>/<c>Synced*</c> fields and <see cref="File"/>;
/// other threads see only what the writer published (<see cref="CommittedLength"/>,
/// <see cref="CommittedLastSequence"/>): records that are acknowledged, or, in PerWrite mode, durable.
/// </summary>
internal sealed class Segment
{
    private const int MaxIndexEntries = 4096;
    private const long IndexEveryBytes = 1 << 20;
    private const long IndexEveryMilliseconds = 1000;

    private long _committedLength;
    private long _committedLastSequence;
    private volatile bool _sealed;

    // Sparse index: where some records start and roughly when they were appended. Guarded by lock (_indexLock).
    private readonly Lock _indexLock = new();
    private IndexEntry[] _index = new IndexEntry[8];
    private int _indexCount;
    private long _lastIndexTick;

    public Segment(string path, long firstSequence)
    {
        Path = path;
        FirstSequence = firstSequence;
        WrittenLastSequence = firstSequence - 1;
        SyncedLastSequence = firstSequence - 1;
        _committedLastSequence = firstSequence - 1;
    }

    public string Path { get; }

    public string FileName => System.IO.Path.GetFileName(Path);

    public long FirstSequence { get; }

    // ---- writer-owned ----
    public IWalFile? File;
    public long WrittenLength;
    public long WrittenLastSequence;
    public long SyncedLength;
    public long SyncedLastSequence;

    /// <summary>The file may hold bytes past <see cref="WrittenLength"/> (a failed write whose truncation failed too).</summary>
    public bool NeedsTruncate;

    /// <summary>Length up to which the Interval-mode background fsync has synced (guarded by the sync lock).</summary>
    public long IntervalSyncedLength;

    public bool HasWrittenRecords => WrittenLastSequence >= FirstSequence;

    // ---- published ----
    public long CommittedLength => Volatile.Read(ref _committedLength);

    public long CommittedLastSequence => Volatile.Read(ref _committedLastSequence);

    public bool HasCommittedRecords => CommittedLastSequence >= FirstSequence;

    /// <summary>No longer written (closed after a roll, or recovered and not continued); may be deleted.</summary>
    public bool Sealed
    {
        get => _sealed;
        set => _sealed = value;
    }

    /// <summary>Makes everything written so far visible to readers. Length first, so that a reader who sees the sequence sees the bytes.</summary>
    public void Publish()
    {
        Volatile.Write(ref _committedLength, WrittenLength);
        Volatile.Write(ref _committedLastSequence, WrittenLastSequence);
    }

    public void CloseFile()
    {
        File?.Dispose();
        File = null;
    }

    /// <summary>Notes that the record <paramref name="sequence"/> starts at <paramref name="offset"/>, when the last note is far enough back.</summary>
    public void MaybeIndex(long sequence, long offset, DateTimeOffset? appendedAt = null)
    {
        long tick = Environment.TickCount64;
        lock (_indexLock)
        {
            if (_indexCount > 0)
            {
                ref IndexEntry last = ref _index[_indexCount - 1];
                if (offset - last.Offset < IndexEveryBytes && tick - _lastIndexTick < IndexEveryMilliseconds)
                    return;
                if (sequence <= last.Sequence)
                    return;
            }
            if (_indexCount == MaxIndexEntries)
            {
                // Keep every other entry (the first stays): the index stays bounded and evenly spread.
                int kept = 0;
                for (int i = 0; i < _indexCount; i += 2)
                    _index[kept++] = _index[i];
                _indexCount = kept;
            }
            else if (_indexCount == _index.Length)
            {
                Array.Resize(ref _index, _index.Length * 2);
            }
            _index[_indexCount++] = new IndexEntry(sequence, offset,
                (appendedAt ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds());
            _lastIndexTick = tick;
        }
    }

    /// <summary>Forgets entries at or past <paramref name="length"/> (after the tail was rolled back).</summary>
    public void TrimIndex(long length)
    {
        lock (_indexLock)
        {
            while (_indexCount > 0 && _index[_indexCount - 1].Offset >= length)
                _indexCount--;
        }
    }

    /// <summary>The last indexed record at or before <paramref name="sequence"/> that lies within <paramref name="length"/>.</summary>
    public bool TryFindIndexEntry(long sequence, long length, out IndexEntry entry)
    {
        lock (_indexLock)
        {
            for (int i = _indexCount - 1; i >= 0; i--)
            {
                if (_index[i].Sequence <= sequence && _index[i].Offset < length)
                {
                    entry = _index[i];
                    return true;
                }
            }
        }
        entry = default;
        return false;
    }

    public readonly record struct IndexEntry(long Sequence, long Offset, long UnixMilliseconds);
}
