using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    private enum ScanOutcome
    {
        /// <summary>Shorter than a header, or a header and nothing else.</summary>
        Empty,

        /// <summary>Not a segment of this log: a bad header and not one record that verifies under the file's name.</summary>
        Foreign,

        /// <summary>Every byte after the header is a valid record.</summary>
        Valid,

        /// <summary>Some bytes are neither a valid header nor a valid record.</summary>
        Damaged,
    }

    /// <summary>
    /// Contiguous valid records found by a scan. Each run becomes a segment of its own, named by its first
    /// sequence, so that sequences stay contiguous inside every file and the gaps damage leaves fall between
    /// segments, where every reader already expects them.
    /// </summary>
    private sealed class Run(Segment segment, long sourceStart)
    {
        public Segment Segment { get; } = segment;

        /// <summary>Offset of the run's first record in the scanned file.</summary>
        public long SourceStart { get; } = sourceStart;

        public long SourceEnd { get; set; } = sourceStart;
    }

    /// <summary>Bytes that are not valid records; <see cref="Tail"/> when no valid record follows them in the file.</summary>
    private readonly record struct DamagedStretch(long Offset, long Length, long FirstSequence, long LastSequence, bool Tail);

    private sealed class SegmentScan
    {
        public ScanOutcome Outcome;
        public long FileLength;
        public bool HeaderValid;
        public DateTimeOffset FileTime;
        public readonly List<Run> Runs = [];
        public readonly List<DamagedStretch> Damage = [];
    }

    private struct RepairTotals
    {
        public long TruncatedRecords;
        public long TruncatedBytes;
    }

    /// <summary>
    /// Validates the header and every record of a segment. At a record that fails, looks for the next valid
    /// one (<see cref="FrameSearch"/>) with a sequence below <paramref name="sequenceCap"/> and goes on from
    /// there in a new run.
    /// </summary>
    private static SegmentScan ScanSegment(string path, long first, long sequenceCap, FrameReader reader, byte[] window)
    {
        var scan = new SegmentScan();
        using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        long fileLength = scan.FileLength = RandomAccess.GetLength(file);
        Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
        if (fileLength < WalFormat.SegmentHeaderSize || ReadAt(file, header, 0) < header.Length)
        {
            scan.Outcome = ScanOutcome.Empty;
            return scan;
        }
        scan.HeaderValid = WalFormat.IsValidSegmentHeader(header, first);
        if (scan.HeaderValid && fileLength == WalFormat.SegmentHeaderSize)
        {
            scan.Outcome = ScanOutcome.Empty;
            return scan;
        }
        scan.FileTime = ApproximateCreationTime(path);
        string directory = Path.GetDirectoryName(path)!;

        // A damaged header does not make the records foreign: those that verify with sequences following the
        // file's name are this log's. Only a file in which none does is something else.
        if (!scan.HeaderValid)
            AddDamage(scan, new DamagedStretch(0, WalFormat.SegmentHeaderSize, first, first - 1, Tail: false));
        long at = WalFormat.SegmentHeaderSize;
        long expected = first;
        Run run = StartRun(scan, path, first, at);
        reader.Reset(file, at, fileLength);
        while (true)
        {
            FrameStatus status = reader.TryRead(expected, verifyChecksum: true, out _);
            if (status == FrameStatus.Ok)
            {
                run.Segment.MaybeIndex(expected, at - run.SourceStart + WalFormat.SegmentHeaderSize, scan.FileTime);
                run.Segment.WrittenLastSequence = expected;
                expected++;
                at = reader.Position;
                continue;
            }

            run.SourceEnd = at;
            run.Segment.WrittenLength = WalFormat.SegmentHeaderSize + (at - run.SourceStart);
            if (status == FrameStatus.End)
                break;
            if (!FrameSearch.TryFind(file, reader, window, at, fileLength, expected, sequenceCap, out long resume, out long sequence))
            {
                AddDamage(scan, new DamagedStretch(at, fileLength - at, expected, sequenceCap - 1, Tail: true));
                break;
            }
            AddDamage(scan, new DamagedStretch(at, resume - at, expected, sequence - 1, Tail: false));
            run = StartRun(scan, Path.Combine(directory, WalFormat.SegmentFileName(sequence)), sequence, resume);
            at = resume;
            expected = sequence;
            reader.Reset(file, at, fileLength);
        }

        if (!scan.HeaderValid && !scan.Runs.Exists(r => r.Segment.HasWrittenRecords))
            scan.Outcome = ScanOutcome.Foreign;
        else
            scan.Outcome = scan.Damage.Count == 0 ? ScanOutcome.Valid : ScanOutcome.Damaged;
        return scan;
    }

    /// <summary>Adds a damaged stretch, merged with the previous one when they touch (a damaged header and first record).</summary>
    private static void AddDamage(SegmentScan scan, DamagedStretch stretch)
    {
        if (scan.Damage.Count > 0 && scan.Damage[^1] is var last && last.Offset + last.Length == stretch.Offset)
        {
            scan.Damage[^1] = stretch with { Offset = last.Offset, Length = last.Length + stretch.Length, FirstSequence = last.FirstSequence };
            return;
        }
        scan.Damage.Add(stretch);
    }

    private static Run StartRun(SegmentScan scan, string path, long firstSequence, long sourceStart)
    {
        var run = new Run(new Segment(path, firstSequence), sourceStart);
        run.Segment.WrittenLength = WalFormat.SegmentHeaderSize;
        scan.Runs.Add(run);
        return run;
    }

    /// <summary>
    /// Repairs a damaged segment and returns the segments that replace it, in order. A damaged tail of the
    /// last segment (<paramref name="lastInLog"/>) is a torn write: cut off and counted as truncated. Any other
    /// damaged stretch is copied to <c>{segment}.damaged-{offset}</c> and reported in <paramref name="damage"/>;
    /// each run of valid records after damage moves to a new segment named by its first sequence.
    /// </summary>
    /// <remarks>
    /// Crash safety: the copies of the damage come first, then the new segments from the last one back (each
    /// written to a temporary file, fsynced, renamed), and only then is the damaged file cut or deleted. A
    /// crash at any point leaves the damaged file whole; the next recovery repeats the repair, and the
    /// sequence cap (the next file's first sequence) keeps it from taking records that already moved.
    /// </remarks>
    private List<Segment> RepairSegment(string path, long first, SegmentScan scan, bool lastInLog, long sequenceCap,
        long consumedThrough, byte[] window, List<WalDamage> damage, ref RepairTotals totals)
    {
        string name = Path.GetFileName(path);
        var kept = new List<Run>(scan.Runs.Count);
        foreach (Run run in scan.Runs)
        {
            if (run.Segment.HasWrittenRecords)
                kept.Add(run);
        }
        // The first run of a segment whose header is fine stays in its file; the file is cut after it.
        bool firstStaysInPlace = scan.HeaderValid && kept.Count > 0 && ReferenceEquals(kept[0], scan.Runs[0]);
        bool replacesFile = false;

        using (SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete))
        {
            foreach (DamagedStretch stretch in scan.Damage)
            {
                if (stretch.Tail && lastInLog)
                {
                    totals.TruncatedBytes += stretch.Length;
                    totals.TruncatedRecords += CountFrames(file, stretch.Offset, scan.FileLength);
                    continue;
                }
                string keptAs = KeepDamagedBytes(file, name, stretch.Offset, stretch.Length, window);
                long unconsumedFrom = Math.Max(stretch.FirstSequence, consumedThrough + 1);
                damage.Add(new WalDamage(name, stretch.Offset, stretch.Length, stretch.FirstSequence, stretch.LastSequence,
                    Math.Max(0, stretch.LastSequence - unconsumedFrom + 1), keptAs));
            }

            for (int k = kept.Count - 1; k >= (firstStaysInPlace ? 1 : 0); k--)
            {
                bool overFile = kept[k].Segment.FirstSequence == first;
                WriteRunAsSegment(file, kept[k], scan.FileTime, overwrite: overFile, window);
                replacesFile |= overFile;
            }

            if (firstStaysInPlace)
            {
                RandomAccess.SetLength(file, kept[0].SourceEnd);
                RandomAccess.FlushToDisk(file);
            }
            else if (kept.Count == 0 && lastInLog && scan.HeaderValid)
            {
                // Nothing valid at all in the last segment: a torn first record. Cut to the header, as a torn tail.
                RandomAccess.SetLength(file, WalFormat.SegmentHeaderSize);
                RandomAccess.FlushToDisk(file);
                return [scan.Runs[0].Segment];
            }
        }

        // What the damaged file held is now in the new segments and the copies of the damage.
        if (!firstStaysInPlace && !replacesFile)
            File.Delete(path);
        return kept.ConvertAll(r => r.Segment);
    }

    /// <summary>Writes a run as a segment of its own: a temporary file, fsynced, renamed to the segment's name.</summary>
    private void WriteRunAsSegment(SafeFileHandle source, Run run, DateTimeOffset fileTime, bool overwrite, byte[] buffer)
    {
        string target = run.Segment.Path;
        string temp = target + WalFormat.RepairSuffix;
        using (SafeFileHandle output = File.OpenHandle(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
            WalFormat.WriteSegmentHeader(header, run.Segment.FirstSequence);
            RandomAccess.Write(output, header, 0);
            CopyRange(source, run.SourceStart, run.SourceEnd - run.SourceStart, output, WalFormat.SegmentHeaderSize, buffer);
            RandomAccess.FlushToDisk(output);
        }
        // The records are as old as the damaged file: keep the age the next recovery will estimate for them.
        File.SetLastWriteTimeUtc(temp, fileTime.UtcDateTime);
        File.Move(temp, target, overwrite);
        DirectorySync.TrySync(_directory);
    }

    /// <summary>Copies damaged bytes to <c>{segment}.damaged-{offset}</c> (a numbered variant if taken), fsynced; returns its name.</summary>
    private string KeepDamagedBytes(SafeFileHandle source, string segmentName, long offset, long length, byte[] buffer)
    {
        string stem = segmentName + WalFormat.DamagedInfix + offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string target = Path.Combine(_directory, stem);
        for (int n = 2; File.Exists(target); n++)
            target = Path.Combine(_directory, $"{stem}.{n}");
        using (SafeFileHandle output = File.OpenHandle(target, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            CopyRange(source, offset, length, output, 0, buffer);
            RandomAccess.FlushToDisk(output);
        }
        return Path.GetFileName(target);
    }

    private static void CopyRange(SafeFileHandle source, long offset, long length, SafeFileHandle destination, long destinationOffset, byte[] buffer)
    {
        while (length > 0)
        {
            int read = ReadAt(source, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length)), offset);
            if (read == 0)
                throw new IOException($"The segment ended {length} bytes early while it was being repaired.");
            RandomAccess.Write(destination, buffer.AsSpan(0, read), destinationOffset);
            offset += read;
            destinationOffset += read;
            length -= read;
        }
    }

    /// <summary>Frames from <paramref name="at"/> to the end by their length fields: a partial one counts, zeros do not.</summary>
    private static long CountFrames(SafeFileHandle file, long at, long fileLength)
    {
        Span<byte> header = stackalloc byte[WalFormat.RecordHeaderSize];
        long count = 0;
        while (at < fileLength)
        {
            int read = ReadAt(file, header[..(int)Math.Min(header.Length, fileLength - at)], at);
            if (!header[..read].ContainsAnyExcept((byte)0))
                break;
            count++;
            if (read < header.Length)
                break;
            WalFormat.ReadRecordHeader(header, out uint length, out _, out _);
            if (length > WalFormat.MaxPayloadBytes)
                break;
            at += WalFormat.RecordHeaderSize + length;
        }
        return count;
    }
}
