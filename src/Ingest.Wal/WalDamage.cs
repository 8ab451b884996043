namespace Ingest.Wal;

/// <summary>
/// A damaged stretch of a segment that recovery skipped: valid records (or the end of a segment that is not
/// the last) follow it, so it is not a torn write. Its records are not replayed.
/// </summary>
/// <param name="Segment">File name of the segment it was found in (as it was named before the repair).</param>
/// <param name="Offset">Where the damage starts in that file: the start of the first record that failed.</param>
/// <param name="Length">Bytes skipped, up to the next valid record or the end of the file.</param>
/// <param name="FirstSequence">First sequence lost.</param>
/// <param name="LastSequence">
/// Last sequence lost: the one before the next valid record (or before the next segment's first sequence);
/// below <paramref name="FirstSequence"/> when the damage held no whole record (a damaged segment header).
/// </param>
/// <param name="UnconsumedRecords">
/// Of the lost records, those above the lowest checkpoint in <c>checkpoints.json</c>: some consumer had not
/// finished them, so their content never reached it. The others were done with and lost nothing.
/// </param>
/// <param name="KeptAs">File name (in the log directory) holding a copy of the damaged bytes, for inspection.</param>
public sealed record WalDamage(string Segment, long Offset, long Length, long FirstSequence, long LastSequence,
    long UnconsumedRecords, string KeptAs)
{
    /// <summary>Records lost (0 when the damage held no whole record).</summary>
    public long Records => Math.Max(0, LastSequence - FirstSequence + 1);

    public override string ToString() =>
        $"{Segment} at {Offset} ({Length} bytes): " +
        (Records == 0 ? "no record" : $"sequences {FirstSequence}-{LastSequence}, {UnconsumedRecords} unconsumed") +
        $", kept as {KeptAs}";
}
