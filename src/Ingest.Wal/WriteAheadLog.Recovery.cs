using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    private enum ScanOutcome
    {
        /// <summary>Shorter than a header, or a header and nothing else.</summary>
        Empty,

        /// <summary>The header is not ours or names another first sequence.</summary>
        BadHeader,

        /// <summary>Every byte after the header is a valid record.</summary>
        Valid,

        /// <summary>Valid records up to some point, then something that is not one.</summary>
        Damaged,
    }

    /// <summary>
    /// Scans the directory before the writer starts: validates every record of every segment, truncates a torn
    /// tail of the last segment, sets damaged segments aside, removes empty ones, loads the checkpoints and
    /// works out the next sequence.
    /// </summary>
    private WalRecovery Recover()
    {
        long started = Stopwatch.GetTimestamp();
        Directory.CreateDirectory(_directory);
        AcquireDirectoryLock();

        bool directoryChanged = false;
        var setAside = new List<string>();
        int emptyRemoved = 0;
        long recordsFound = 0, truncatedRecords = 0, truncatedBytes = 0;
        long nextAtLeast = 1;

        bool checkpointsReset = LoadCheckpoints(ref nextAtLeast, ref directoryChanged);

        List<(long First, string Path, long Length)> files = ListSegmentFiles();
        int lastWithRecords = files.FindLastIndex(f => f.Length > WalFormat.SegmentHeaderSize);
        using var reader = new FrameReader(1 << 20);
        Segment? previous = null;

        for (int i = 0; i < files.Count; i++)
        {
            (long first, string path, _) = files[i];
            var segment = new Segment(path, first);

            if (previous is not null && first <= previous.WrittenLastSequence)
            {
                // Sequences would go backwards: not something this log writes.
                setAside.Add(SetAside(path, first, copy: false));
                directoryChanged = true;
                continue;
            }

            ScanOutcome outcome = ScanSegment(segment, reader, out long fileLength, out long validEnd);
            switch (outcome)
            {
                case ScanOutcome.Empty:
                    File.Delete(path);
                    emptyRemoved++;
                    directoryChanged = true;
                    // The name was the next sequence when the file was created.
                    nextAtLeast = Math.Max(nextAtLeast, first);
                    continue;

                case ScanOutcome.BadHeader:
                    setAside.Add(SetAside(path, first, copy: false));
                    directoryChanged = true;
                    nextAtLeast = Math.Max(nextAtLeast, first);
                    continue;

                case ScanOutcome.Damaged when i != lastWithRecords:
                    // Segments before the last were complete and fsynced before the next one began: damage
                    // there is corruption, not a crash. The whole segment goes aside.
                    setAside.Add(SetAside(path, first, copy: false));
                    directoryChanged = true;
                    nextAtLeast = Math.Max(nextAtLeast, segment.WrittenLastSequence + 1);
                    continue;

                case ScanOutcome.Damaged:
                    RepairLastSegment(segment, reader, fileLength, validEnd, setAside,
                        ref truncatedRecords, ref truncatedBytes, ref directoryChanged);
                    break;
            }

            segment.WrittenLength = validEnd;
            segment.SyncedLength = validEnd;
            segment.IntervalSyncedLength = validEnd;
            segment.SyncedLastSequence = segment.WrittenLastSequence;
            segment.Sealed = true;
            segment.Publish();
            recordsFound += segment.WrittenLastSequence - segment.FirstSequence + 1;
            _segments.Add(segment);
            previous = segment;
        }

        long next = Math.Max(nextAtLeast, (previous?.WrittenLastSequence ?? 0) + 1);
        if (previous is not null)
        {
            if (previous.WrittenLastSequence + 1 == next)
            {
                // Appends continue in the last segment.
                previous.File = OpenSegmentFile(previous.Path, FileMode.Open);
                previous.Sealed = false;
                _active = previous;
            }
            else if (!previous.HasWrittenRecords)
            {
                // Truncated to nothing, and its name is behind the next sequence: it cannot be continued.
                File.Delete(previous.Path);
                _segments.RemoveAt(_segments.Count - 1);
                emptyRemoved++;
                directoryChanged = true;
            }
            // Otherwise sequences jump (checkpoints or a lost tail say they went further): the next append
            // starts a new segment so that every segment stays contiguous.
        }

        foreach (Segment segment in _segments)
            _liveBytes += segment.WrittenLength;
        _nextSequence = next;
        _lastSequence = next - 1;
        if (directoryChanged)
            DirectorySync.TrySync(_directory);

        return new WalRecovery
        {
            SegmentsScanned = files.Count,
            RecordsFound = recordsFound,
            TruncatedRecords = truncatedRecords,
            TruncatedBytes = truncatedBytes,
            SegmentsSetAside = setAside,
            EmptySegmentsRemoved = emptyRemoved,
            CheckpointsReset = checkpointsReset,
            NextSequence = next,
            Duration = Stopwatch.GetElapsedTime(started),
        };
    }

    /// <summary>Segment files by first sequence; other files are left alone.</summary>
    private List<(long First, string Path, long Length)> ListSegmentFiles()
    {
        var files = new List<(long First, string Path, long Length)>();
        foreach (FileInfo file in new DirectoryInfo(_directory).EnumerateFiles())
        {
            if (WalFormat.TryParseSegmentFileName(file.Name, out long first))
                files.Add((first, file.FullName, file.Length));
        }
        files.Sort((a, b) => a.First.CompareTo(b.First));
        return files;
    }

    /// <summary>
    /// Validates the header and every record of a segment. On return <paramref name="segment"/>'s written
    /// last sequence is that of the last valid record and <paramref name="validEnd"/> the offset after it.
    /// </summary>
    private static ScanOutcome ScanSegment(Segment segment, FrameReader reader, out long fileLength, out long validEnd)
    {
        using SafeFileHandle file = File.OpenHandle(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        fileLength = RandomAccess.GetLength(file);
        validEnd = 0;
        Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
        if (fileLength < WalFormat.SegmentHeaderSize || ReadAt(file, header, 0) < header.Length)
            return ScanOutcome.Empty;
        if (!WalFormat.IsValidSegmentHeader(header, segment.FirstSequence))
            return ScanOutcome.BadHeader;
        validEnd = WalFormat.SegmentHeaderSize;
        if (fileLength == WalFormat.SegmentHeaderSize)
            return ScanOutcome.Empty;

        DateTimeOffset fileTime = ApproximateCreationTime(segment.Path);
        reader.Reset(file, WalFormat.SegmentHeaderSize, fileLength);
        long expected = segment.FirstSequence;
        while (true)
        {
            long at = reader.Position;
            FrameStatus status = reader.TryRead(expected, verifyChecksum: true, out _);
            if (status != FrameStatus.Ok)
            {
                segment.WrittenLastSequence = expected - 1;
                validEnd = reader.Position;
                return status == FrameStatus.End ? ScanOutcome.Valid : ScanOutcome.Damaged;
            }
            segment.MaybeIndex(expected, at, fileTime);
            expected++;
        }
    }

    /// <summary>
    /// The last segment has something invalid at <paramref name="validEnd"/>. A crash mid-write leaves that at
    /// the tail (partial record, garbage or zeros); it is cut off. When a valid record follows the bad one, the
    /// damage is in the middle of the file instead: the whole file is first copied aside as evidence, then the
    /// live segment is cut at the same point, so the records before the damage stay in the log.
    /// </summary>
    private void RepairLastSegment(Segment segment, FrameReader reader, long fileLength, long validEnd,
        List<string> setAside, ref long truncatedRecords, ref long truncatedBytes, ref bool directoryChanged)
    {
        using (SafeFileHandle file = File.OpenHandle(segment.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete))
        {
            long expected = segment.WrittenLastSequence + 1;
            bool damagedInTheMiddle = HasValidSuccessor(file, reader, validEnd, expected, fileLength);
            truncatedRecords += CountFrames(file, validEnd, fileLength);
            truncatedBytes += fileLength - validEnd;
            if (damagedInTheMiddle)
            {
                setAside.Add(SetAside(segment.Path, segment.FirstSequence, copy: true));
                directoryChanged = true;
            }
            RandomAccess.SetLength(file, validEnd);
            RandomAccess.FlushToDisk(file);
        }
        segment.TrimIndex(validEnd);
    }

    /// <summary>Whether the frame at <paramref name="at"/> has a believable length and is followed by the valid record <paramref name="expected"/> + 1.</summary>
    private static bool HasValidSuccessor(SafeFileHandle file, FrameReader reader, long at, long expected, long fileLength)
    {
        Span<byte> header = stackalloc byte[WalFormat.RecordHeaderSize];
        if (fileLength - at < header.Length || ReadAt(file, header, at) < header.Length)
            return false;
        WalFormat.ReadRecordHeader(header, out uint length, out _, out _);
        if (length > WalFormat.MaxPayloadBytes)
            return false;
        long next = at + WalFormat.RecordHeaderSize + length;
        if (next >= fileLength)
            return false;
        reader.Reset(file, next, fileLength);
        return reader.TryRead(expected + 1, verifyChecksum: true, out _) == FrameStatus.Ok;
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

    /// <summary>Renames (or copies) a segment to <c>{sequence}.wal.corrupt</c> (<c>{sequence}.{n}.wal.corrupt</c> if taken); returns the new file name.</summary>
    private string SetAside(string path, long firstSequence, bool copy)
    {
        string stem = Path.GetFileNameWithoutExtension(WalFormat.SegmentFileName(firstSequence));
        string target = Path.Combine(_directory, stem + WalFormat.CorruptSuffix);
        for (int n = 2; File.Exists(target); n++)
            target = Path.Combine(_directory, $"{stem}.{n}{WalFormat.CorruptSuffix}");
        if (copy)
        {
            File.Copy(path, target);
            using SafeFileHandle evidence = File.OpenHandle(target, FileMode.Open, FileAccess.ReadWrite);
            RandomAccess.FlushToDisk(evidence);
        }
        else
        {
            File.Move(path, target);
        }
        return Path.GetFileName(target);
    }

    /// <summary>Loads <c>checkpoints.json</c>; an unreadable one is renamed aside (returns true) and everyone starts at 0.</summary>
    private bool LoadCheckpoints(ref long nextAtLeast, ref bool directoryChanged)
    {
        string path = Path.Combine(_directory, WalFormat.CheckpointFileName);
        string temp = path + ".tmp";
        if (File.Exists(temp))
        {
            File.Delete(temp); // a save that did not reach its rename
            directoryChanged = true;
        }

        CheckpointFile.Contents? contents;
        try
        {
            contents = CheckpointFile.Load(path);
        }
        catch (InvalidDataException)
        {
            File.Move(path, path + ".corrupt", overwrite: true);
            directoryChanged = true;
            return true;
        }
        if (contents is null)
            return false;

        nextAtLeast = Math.Max(nextAtLeast, contents.NextSequence);
        _persistedNextSequence = contents.NextSequence;
        foreach ((string name, long sequence) in contents.Consumers)
        {
            _consumers[name] = new ConsumerState { Checkpoint = sequence };
            // A consumer cannot have finished a record that was never appended.
            nextAtLeast = Math.Max(nextAtLeast, sequence + 1);
        }
        return false;
    }

    private static DateTimeOffset ApproximateCreationTime(string path)
    {
        DateTime created = File.GetCreationTimeUtc(path);
        DateTime modified = File.GetLastWriteTimeUtc(path);
        return new DateTimeOffset(created < modified ? created : modified, TimeSpan.Zero);
    }

    private static int ReadAt(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(file, buffer[total..], offset + total);
            if (read == 0)
                break;
            total += read;
        }
        return total;
    }
}
