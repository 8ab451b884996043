namespace Ingest.Wal;

/// <summary>What <see cref="WriteAheadLog.Open"/> found on disk and what it repaired.</summary>
public sealed class WalRecovery
{
    /// <summary>Segment files (<c>*.wal</c>) that were examined, empty ones included.</summary>
    public int SegmentsScanned { get; init; }

    /// <summary>Valid records kept in the live segments.</summary>
    public long RecordsFound { get; init; }

    /// <summary>
    /// Records cut off the tail of the last segment: a torn write, or damage with no valid record after it,
    /// which cannot be told apart. A partial record counts as one; a zero-filled tail counts as none.
    /// </summary>
    public long TruncatedRecords { get; init; }

    /// <summary>Bytes cut off the tail of the last segment.</summary>
    public long TruncatedBytes { get; init; }

    /// <summary>
    /// Records lost to damage that valid records follow (in the middle of a segment, or at the end of a segment
    /// that is not the last): skipped, the records after them kept. Sum of <see cref="WalDamage.Records"/>.
    /// </summary>
    public long SkippedRecords { get; init; }

    /// <summary>Of <see cref="SkippedRecords"/>, those some consumer had not finished (their content is lost to it).</summary>
    public long SkippedUnconsumedRecords { get; init; }

    /// <summary>Bytes of the damage skipped (each stretch is kept in a <c>*.damaged-{offset}</c> file).</summary>
    public long SkippedBytes { get; init; }

    /// <summary>Each damaged stretch that was skipped, in log order.</summary>
    public IReadOnlyList<WalDamage> Damage { get; init; } = [];

    /// <summary>File names (in the log directory) of the <c>*.wal.corrupt</c> files written by this recovery.</summary>
    public IReadOnlyList<string> SegmentsSetAside { get; init; } = [];

    /// <summary>Segment files with no record (0 bytes, a partial header, or a header only) that were deleted.</summary>
    public int EmptySegmentsRemoved { get; init; }

    /// <summary>
    /// <c>checkpoints.json</c> could not be read; it was renamed to <c>checkpoints.json.corrupt</c> and every
    /// consumer starts from 0 again (it will see records a second time).
    /// </summary>
    public bool CheckpointsReset { get; init; }

    /// <summary>The sequence the next append gets.</summary>
    public long NextSequence { get; init; }

    /// <summary>How long recovery took.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Nothing was truncated, skipped, set aside, removed or reset.</summary>
    public bool IsClean =>
        TruncatedBytes == 0 && Damage.Count == 0 && SegmentsSetAside.Count == 0 && EmptySegmentsRemoved == 0 && !CheckpointsReset;

    public override string ToString() =>
        $"segments={SegmentsScanned} records={RecordsFound} truncatedRecords={TruncatedRecords} " +
        $"truncatedBytes={TruncatedBytes} skippedRecords={SkippedRecords} skippedUnconsumed={SkippedUnconsumedRecords} " +
        $"skippedBytes={SkippedBytes} damage=[{string.Join("; ", Damage)}] setAside=[{string.Join(", ", SegmentsSetAside)}] " +
        $"emptyRemoved={EmptySegmentsRemoved} checkpointsReset={CheckpointsReset} next={NextSequence} " +
        $"took={Duration.TotalMilliseconds:F1}ms";
}
