using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    /// <summary>
    /// Every kept record with a sequence at or after <paramref name="fromSequence"/>, in sequence order. Gaps
    /// (segments deleted, dropped or set aside) are skipped.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Lazy: files are read as the enumeration advances, through one pooled buffer per enumeration.
    /// <see cref="WalRecord.Payload"/> points into that buffer and is overwritten by the next record: copy it
    /// to keep it. Dispose the enumerator (foreach does) to return the buffer.
    /// </para>
    /// <para>
    /// Thread-safe with respect to appends and checkpoints: the enumeration sees every record that was
    /// acknowledged (in PerWrite mode: durable) before it reached the end of the log, and may see later ones.
    /// A segment deleted under a running enumeration is still read to its end on Unix (the open file outlives its
    /// name); one deleted before the enumeration opened it is skipped. One enumerator must not be used by
    /// several threads at once. Each record's checksum is verified; at a record that fails (damage since
    /// <see cref="Open"/>) the enumeration skips to the next segment.
    /// </para>
    /// </remarks>
    public IEnumerable<WalRecord> ReadFrom(long fromSequence) => ReadRecords(Math.Max(1, fromSequence));

    private IEnumerable<WalRecord> ReadRecords(long next)
    {
        var reader = new FrameReader();
        try
        {
            while (true)
            {
                Segment? segment = FindSegmentFor(next);
                if (segment is null)
                    yield break;
                long lastSeen = segment.CommittedLastSequence;

                SafeFileHandle? file = TryOpenForReading(segment.Path);
                if (file is null)
                {
                    next = Math.Max(next, lastSeen + 1);
                    continue;
                }

                using (file)
                {
                    long start = WalFormat.SegmentHeaderSize;
                    long expected = segment.FirstSequence;
                    long limit = segment.CommittedLength;
                    if (segment.TryFindIndexEntry(next, limit, out Segment.IndexEntry entry) && entry.Sequence > expected)
                    {
                        start = entry.Offset;
                        expected = entry.Sequence;
                    }
                    reader.Reset(file, start, limit);

                    while (true)
                    {
                        bool wanted = expected >= next;
                        FrameStatus status = reader.TryRead(expected, verifyChecksum: wanted, out ReadOnlyMemory<byte> payload);
                        if (status == FrameStatus.Ok)
                        {
                            if (wanted)
                            {
                                next = expected + 1;
                                yield return new WalRecord(expected, payload);
                            }
                            expected++;
                            continue;
                        }
                        if (status == FrameStatus.End)
                        {
                            // The segment may have grown meanwhile (it is the one being written).
                            long grown = segment.CommittedLength;
                            if (grown > reader.Limit)
                            {
                                reader.ExtendLimit(grown);
                                continue;
                            }
                        }
                        break;
                    }
                }
                // Never look at this segment's records again, even when it ended early (damage).
                next = Math.Max(next, lastSeen + 1);
            }
        }
        finally
        {
            reader.Dispose();
        }
    }

    private static SafeFileHandle? TryOpenForReading(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null; // deleted (checkpointed or dropped) since it was found
        }
    }
}
