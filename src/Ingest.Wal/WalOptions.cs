namespace Ingest.Wal;

/// <summary>When <see cref="WriteAheadLog.AppendAsync(ReadOnlyMemory{byte}, CancellationToken)"/> reports a record as done.</summary>
public enum WalSyncMode
{
    /// <summary>
    /// An append completes only after its record is on stable storage (fsync). Appends that arrive while the
    /// writer is busy are written together and share one fsync (group commit). Nothing acknowledged is lost.
    /// </summary>
    PerWrite,

    /// <summary>
    /// An append completes once its record has been handed to the operating system (write); a background fsync
    /// runs every <see cref="WalOptions.SyncInterval"/>. A crash of the process loses nothing acknowledged; a
    /// crash of the machine (power loss, kernel panic) can lose up to one interval of acknowledged records.
    /// </summary>
    Interval,
}

/// <summary>Settings of a <see cref="WriteAheadLog"/>. Immutable once the log is open.</summary>
public sealed class WalOptions
{
    /// <summary>The directory that holds the segments and the checkpoint file; created when missing.</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// Size after which the log rolls to a new segment: a record goes into the current segment when it fits
    /// under this size, or when the segment holds no record yet (so a record larger than this gets a segment of
    /// its own). Default 64 MiB.
    /// </summary>
    public long SegmentBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Most bytes the live segments (headers included) may take. An append that would go beyond it fails with
    /// <see cref="WalFullException"/> and writes nothing. Default 4 GiB.
    /// </summary>
    public long MaxBytes { get; init; } = 4L << 30;

    /// <summary>When an append completes; see <see cref="WalSyncMode"/>. Default <see cref="WalSyncMode.PerWrite"/>.</summary>
    public WalSyncMode SyncMode { get; init; } = WalSyncMode.PerWrite;

    /// <summary>Period of the background fsync in <see cref="WalSyncMode.Interval"/> mode. Default 100 ms.</summary>
    public TimeSpan SyncInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How often changed consumer checkpoints are written to <c>checkpoints.json</c>; they are also written by
    /// <see cref="WriteAheadLog.FlushCheckpoints"/> and on dispose. Default 1 s.
    /// </summary>
    public TimeSpan CheckpointFlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Fault injection for the tests.</summary>
    internal WalTestHooks? TestHooks { get; init; }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
            throw new ArgumentException("A directory is required.", nameof(Directory));
        if (SegmentBytes < 64)
            throw new ArgumentOutOfRangeException(nameof(SegmentBytes), SegmentBytes, "Segments must be at least 64 bytes.");
        if (MaxBytes < 64)
            throw new ArgumentOutOfRangeException(nameof(MaxBytes), MaxBytes, "The size limit must be at least 64 bytes.");
        if (SyncMode is not (WalSyncMode.PerWrite or WalSyncMode.Interval))
            throw new ArgumentOutOfRangeException(nameof(SyncMode), SyncMode, "Unknown sync mode.");
        if (SyncInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(SyncInterval), SyncInterval, "The sync interval must be positive.");
        if (CheckpointFlushInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(CheckpointFlushInterval), CheckpointFlushInterval, "The checkpoint interval must be positive.");
    }
}
