using System.Buffers;
using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    /// <summary>
    /// Scans the directory before the writer starts: validates every record of every segment, skips damaged
    /// records that valid ones follow (splitting the segment around them), truncates a torn tail of the last
    /// segment, sets foreign segments aside, removes empty ones, loads the checkpoints and works out the next
    /// sequence.
    /// </summary>
    private WalRecovery Recover()
    {
        long started = Stopwatch.GetTimestamp();
        Directory.CreateDirectory(_directory);
        AcquireDirectoryLock();

        bool directoryChanged = DeleteRepairLeftovers();
        var setAside = new List<string>();
        var damage = new List<WalDamage>();
        int emptyRemoved = 0;
        long recordsFound = 0;
        var repair = new RepairTotals();
        long nextAtLeast = 1;

        bool checkpointsReset = LoadCheckpoints(ref nextAtLeast, ref directoryChanged);
        long consumedThrough = LowestCheckpoint();

        List<(long First, string Path, long Length)> files = ListSegmentFiles();
        int lastWithRecords = files.FindLastIndex(f => f.Length > WalFormat.SegmentHeaderSize);
        using var reader = new FrameReader(1 << 20);
        byte[] window = ArrayPool<byte>.Shared.Rent(1 << 20);
        Segment? previous = null;
        try
        {
            for (int i = 0; i < files.Count; i++)
            {
                (long first, string path, _) = files[i];
                if (previous is not null && first <= previous.WrittenLastSequence)
                {
                    // Sequences would go backwards: not something this log writes.
                    setAside.Add(SetAside(path, first));
                    directoryChanged = true;
                    continue;
                }

                // A record at or past the next file's first sequence belongs to that file: a repair that a crash
                // interrupted leaves such copies behind, and they must not be taken twice.
                long sequenceCap = i + 1 < files.Count ? files[i + 1].First : long.MaxValue;
                SegmentScan scan = ScanSegment(path, first, sequenceCap, reader, window);
                List<Segment> kept;
                switch (scan.Outcome)
                {
                    case ScanOutcome.Empty:
                        File.Delete(path);
                        emptyRemoved++;
                        directoryChanged = true;
                        // The name was the next sequence when the file was created.
                        nextAtLeast = Math.Max(nextAtLeast, first);
                        continue;

                    case ScanOutcome.Foreign:
                        setAside.Add(SetAside(path, first));
                        directoryChanged = true;
                        nextAtLeast = Math.Max(nextAtLeast, first);
                        continue;

                    case ScanOutcome.Damaged:
                        kept = RepairSegment(path, first, scan, lastInLog: i == lastWithRecords, sequenceCap,
                            consumedThrough, window, damage, ref repair);
                        directoryChanged = true;
                        break;

                    default:
                        kept = [scan.Runs[0].Segment];
                        break;
                }

                foreach (Segment segment in kept)
                {
                    segment.SyncedLength = segment.WrittenLength;
                    segment.IntervalSyncedLength = segment.WrittenLength;
                    segment.SyncedLastSequence = segment.WrittenLastSequence;
                    segment.Sealed = true;
                    segment.Publish();
                    if (segment.HasWrittenRecords)
                        recordsFound += segment.WrittenLastSequence - segment.FirstSequence + 1;
                    _segments.Add(segment);
                    previous = segment;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }

        // Lost sequences were given out once; they are not given out again.
        foreach (WalDamage lost in damage)
            nextAtLeast = Math.Max(nextAtLeast, lost.LastSequence + 1);
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
            TruncatedRecords = repair.TruncatedRecords,
            TruncatedBytes = repair.TruncatedBytes,
            SkippedRecords = damage.Sum(d => d.Records),
            SkippedUnconsumedRecords = damage.Sum(d => d.UnconsumedRecords),
            SkippedBytes = damage.Sum(d => d.Length),
            Damage = damage,
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

    /// <summary>Renames a segment to <c>{sequence}.wal.corrupt</c> (<c>{sequence}.{n}.wal.corrupt</c> if taken); returns the new file name.</summary>
    private string SetAside(string path, long firstSequence)
    {
        string stem = Path.GetFileNameWithoutExtension(WalFormat.SegmentFileName(firstSequence));
        string target = Path.Combine(_directory, stem + WalFormat.CorruptSuffix);
        for (int n = 2; File.Exists(target); n++)
            target = Path.Combine(_directory, $"{stem}.{n}{WalFormat.CorruptSuffix}");
        File.Move(path, target);
        return Path.GetFileName(target);
    }

    /// <summary>Deletes the temporary files of a repair that a crash interrupted (the damaged segment is still whole).</summary>
    private bool DeleteRepairLeftovers()
    {
        bool deleted = false;
        foreach (string leftover in Directory.EnumerateFiles(_directory, "*" + WalFormat.RepairSuffix))
        {
            File.Delete(leftover);
            deleted = true;
        }
        return deleted;
    }

    /// <summary>The lowest checkpoint loaded from <c>checkpoints.json</c> (0 when there is none): every record above it is unconsumed.</summary>
    private long LowestCheckpoint()
    {
        lock (_consumersLock)
            return _consumers.Count == 0 ? 0 : _consumers.Values.Min(c => c.Checkpoint);
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

    private static int ReadAt(SafeFileHandle file, Span<byte> buffer, long offset) => FrameSearch.ReadFully(file, buffer, offset);
}
