using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Ingest.Wal;

/// <summary>
/// An append-only log of opaque byte records in segment files, made durable before an append completes (see
/// <see cref="WalSyncMode"/>), replayed with <see cref="ReadFrom"/> and trimmed by consumer checkpoints.
/// </summary>
/// <remarks>
/// <para>
/// Concurrency: every public member is thread-safe. Appends are serialized by one writer thread that takes every
/// queued record, writes them, fsyncs once and completes them all (group commit); sequences follow the order in
/// which <see cref="AppendAsync(ReadOnlyMemory{byte}, CancellationToken)"/> calls queued their records. <see cref="ReadFrom"/> may run alongside appends and
/// sees every record acknowledged before it reaches the end. Only one <see cref="WriteAheadLog"/> may use a
/// directory at a time: <see cref="Open"/> takes an exclusive lock on <c>wal.lock</c> and fails when another
/// holder (this process or another) has it.
/// </para>
/// <para>
/// <see cref="Dispose"/> stops accepting appends (later calls throw <see cref="ObjectDisposedException"/>),
/// writes and completes everything already queued, fsyncs, persists the checkpoints and closes the files.
/// </para>
/// </remarks>
public sealed partial class WriteAheadLog : IDisposable, IAsyncDisposable
{
    /// <summary>Largest payload <see cref="AppendAsync(ReadOnlyMemory{byte}, CancellationToken)"/> accepts (256 MiB).</summary>
    public const int MaxPayloadBytes = WalFormat.MaxPayloadBytes;

    private readonly WalOptions _options;
    private readonly string _directory;
    private readonly Func<string, IWalFile, IWalFile>? _wrapFile;
    private SafeFileHandle? _lockFile;

    // Segments, oldest first; the last one is the one being written (or about to be replaced by a new one).
    private readonly Lock _segmentsLock = new();
    private readonly List<Segment> _segments = [];

    // The segment being written. Only the writer thread changes it, under _syncLock, so that the Interval-mode
    // sync thread never fsyncs a file that is being closed.
    private readonly Lock _syncLock = new();
    private Segment? _active;

    private long _lastSequence;
    private long _fsyncCount;
    private long _fsyncFailures;
    private int _disposeState; // 0 open, 1 closing, 2 closed

    private Thread? _writerThread;
    private Thread? _syncThread;
    private readonly ManualResetEventSlim _stopSync = new(false);
    private readonly TaskCompletionSource _writerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Timer? _checkpointTimer;

    private WriteAheadLog(WalOptions options)
    {
        _options = options;
        _directory = Path.GetFullPath(options.Directory);
        _wrapFile = options.TestHooks?.WrapSegmentFile;
    }

    /// <summary>
    /// Opens (creating when needed) the log in <see cref="WalOptions.Directory"/>, recovering what a crash left
    /// (torn tail truncated, damaged records skipped with the records after them kept, foreign files set aside,
    /// empty segments removed; see <see cref="Recovery"/>), and
    /// starts the writer. Appends continue after the last sequence ever given out.
    /// </summary>
    /// <exception cref="IOException">The directory cannot be used, or another log holds its lock.</exception>
    public static WriteAheadLog Open(WalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var log = new WriteAheadLog(options);
        try
        {
            log.Recovery = log.Recover();
            log.Start();
            return log;
        }
        catch
        {
            log.AbandonOpen();
            throw;
        }
    }

    /// <summary>What recovery found and repaired when the log was opened.</summary>
    public WalRecovery Recovery { get; private set; } = null!;

    /// <summary>The options the log was opened with.</summary>
    public WalOptions Options => _options;

    /// <summary>
    /// The highest sequence given out: the last acknowledged append (in PerWrite mode, the last durable one), or
    /// after recovery the highest sequence known from the segments and checkpoints.
    /// </summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>Sequence of the oldest record still kept, or <see cref="LastSequence"/> + 1 when no record is kept.</summary>
    public long FirstSequence
    {
        get
        {
            lock (_segmentsLock)
            {
                foreach (Segment segment in _segments)
                {
                    if (segment.HasCommittedRecords)
                        return segment.FirstSequence;
                }
            }
            return LastSequence + 1;
        }
    }

    /// <summary>Bytes of the live segments (headers included), as counted against <see cref="WalOptions.MaxBytes"/>.</summary>
    public long SizeBytes
    {
        get
        {
            lock (_gate)
                return _liveBytes;
        }
    }

    /// <summary>Number of live segment files.</summary>
    public int SegmentCount
    {
        get
        {
            lock (_segmentsLock)
                return _segments.Count;
        }
    }

    /// <summary>Number of fsyncs of segment files so far (group commit makes it lower than the number of appends).</summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    /// <summary>
    /// Number of fsyncs that failed without failing an append: the Interval-mode background sync and the
    /// fsync of a full segment in Interval mode (their records were already acknowledged).
    /// </summary>
    public long FsyncFailures => Interlocked.Read(ref _fsyncFailures);

    /// <summary>
    /// Raised after every successful fsync of a segment file with its duration (for a latency histogram). It runs
    /// on the writer thread or the sync thread: handlers must be quick and must not block; exceptions they throw
    /// are ignored.
    /// </summary>
    public event Action<TimeSpan>? FsyncCompleted;

    private void Start()
    {
        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "wal-writer" };
        _writerThread.Start();
        if (_options.SyncMode == WalSyncMode.Interval)
        {
            _syncThread = new Thread(IntervalSyncLoop) { IsBackground = true, Name = "wal-sync" };
            _syncThread.Start();
        }
        _checkpointTimer = new Timer(static state => ((WriteAheadLog)state!).PersistCheckpointsInBackground(),
            this, _options.CheckpointFlushInterval, _options.CheckpointFlushInterval);
    }

    private void AcquireDirectoryLock()
    {
        string path = Path.Combine(_directory, WalFormat.LockFileName);
        try
        {
            _lockFile = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException($"The write-ahead log in '{_directory}' is in use by another instance.", ex);
        }
    }

    /// <summary>Creates, or reopens for appending, a segment file, through the test hook when there is one.</summary>
    private IWalFile OpenSegmentFile(string path, FileMode mode)
    {
        SafeFileHandle handle = File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        IWalFile file = new OsWalFile(handle);
        return _wrapFile is null ? file : _wrapFile(path, file);
    }

    /// <summary>fsync of a segment file, counted and reported.</summary>
    private void Fsync(IWalFile file)
    {
        long started = Stopwatch.GetTimestamp();
        file.Flush();
        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        Interlocked.Increment(ref _fsyncCount);
        Action<TimeSpan>? handler = FsyncCompleted;
        if (handler is null)
            return;
        try
        {
            handler(elapsed);
        }
        catch
        {
            // An observer must not break the log.
        }
    }

    /// <summary>
    /// Approximate time at which the oldest record that <paramref name="consumer"/> has not checkpointed was
    /// appended, or null when it has checkpointed everything kept. Precision: about one second or one MiB of
    /// records for records appended since open; for segments found at open, the file's creation time.
    /// </summary>
    public DateTimeOffset? OldestUnconsumedAppendTime(string consumer)
    {
        long wanted = GetCheckpoint(consumer) + 1;
        if (wanted > LastSequence)
            return null;
        Segment? segment = FindSegmentFor(wanted);
        if (segment is null)
            return null;
        long sequence = Math.Max(wanted, segment.FirstSequence);
        return segment.TryFindIndexEntry(sequence, long.MaxValue, out Segment.IndexEntry entry)
            ? DateTimeOffset.FromUnixTimeMilliseconds(entry.UnixMilliseconds)
            : null;
    }

    /// <summary>The first segment holding a published record at or after <paramref name="sequence"/>.</summary>
    private Segment? FindSegmentFor(long sequence)
    {
        lock (_segmentsLock)
        {
            foreach (Segment segment in _segments)
            {
                if (segment.CommittedLastSequence >= sequence && segment.HasCommittedRecords)
                    return segment;
            }
        }
        return null;
    }

    /// <summary>Stops appends, drains the queue, fsyncs, persists checkpoints and closes the files.</summary>
    /// <exception cref="IOException">The final fsync or the checkpoint file failed (everything is closed anyway).</exception>
    public void Dispose()
    {
        if (!BeginClose())
            return;
        _writerThread?.Join();
        FinishClose();
    }

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (!BeginClose())
            return;
        await _writerExited.Task.ConfigureAwait(false);
        FinishClose();
    }

    private bool BeginClose()
    {
        lock (_gate)
        {
            if (_disposeState != 0)
                return false;
            _disposeState = 1;
            if (_writerWaiting)
            {
                _writerWaiting = false;
                Monitor.Pulse(_gate);
            }
        }
        return true;
    }

    // Stops the interval-sync thread and the checkpoint timer, waiting for a tick already running.
    private void StopTimers()
    {
        _stopSync.Set();
        _syncThread?.Join();
        if (_checkpointTimer is not null)
        {
            using var stopped = new ManualResetEvent(false);
            if (_checkpointTimer.Dispose(stopped))
                stopped.WaitOne();
        }
    }

    private void FinishClose()
    {
        List<Exception>? errors = null;
        StopTimers();

        lock (_syncLock)
        {
            Segment? active = _active;
            if (active?.File is not null)
            {
                try
                {
                    if (active.NeedsTruncate)
                        active.File.SetLength(active.WrittenLength);
                    Fsync(active.File);
                }
                catch (Exception ex)
                {
                    (errors ??= []).Add(ex);
                }
                active.CloseFile();
            }
        }

        try
        {
            PersistCheckpoints(force: true);
        }
        catch (Exception ex)
        {
            (errors ??= []).Add(ex);
        }

        ReleaseWriterBuffers();
        _lockFile?.Dispose();
        _stopSync.Dispose();
        Volatile.Write(ref _disposeState, 2);

        if (errors is { Count: 1 })
            throw new IOException("Closing the write-ahead log failed: " + errors[0].Message, errors[0]);
        if (errors is not null)
            throw new IOException("Closing the write-ahead log failed.", new AggregateException(errors));
    }

    /// <summary>
    /// For tests: stops the way a killed process would. Records already queued are written (the process had
    /// handed them to the writer), but nothing more is fsynced, checkpoints are not persisted, and the files and
    /// the directory lock are released so that the directory can be opened again.
    /// </summary>
    internal void SimulateProcessCrash()
    {
        if (!BeginClose())
            return;
        _writerThread?.Join();
        StopTimers();
        lock (_syncLock)
            _active?.CloseFile();
        ReleaseWriterBuffers();
        _lockFile?.Dispose();
        Volatile.Write(ref _disposeState, 2);
    }

    /// <summary>Cleans up after a failed <see cref="Open"/>.</summary>
    private void AbandonOpen()
    {
        lock (_segmentsLock)
        {
            foreach (Segment segment in _segments)
                segment.CloseFile();
        }
        ReleaseWriterBuffers();
        _lockFile?.Dispose();
        _stopSync.Dispose();
    }

    private static bool IsDiskFull(Exception exception)
    {
        if (exception is not IOException)
            return false;
        int code = exception.HResult;
        if (OperatingSystem.IsWindows())
            return code is unchecked((int)0x80070070) /* ERROR_DISK_FULL */ or unchecked((int)0x80070027) /* ERROR_HANDLE_DISK_FULL */;
        // On Unix .NET puts the errno in HResult: ENOSPC is 28 everywhere, EDQUOT 122 on Linux, 69 on BSDs/macOS.
        return code == 28 || (OperatingSystem.IsLinux() ? code == 122 : code == 69);
    }

    /// <summary>What an append that the file system refused fails with.</summary>
    private static Exception ToAppendFailure(Exception exception) => exception switch
    {
        WalFullException full => full,
        _ when IsDiskFull(exception) => new WalFullException(
            "The disk is full: the record was not written to the write-ahead log.", WalFullReason.DiskFull, exception),
        IOException io => new IOException("The write-ahead log could not write the record: " + io.Message, io),
        _ => new IOException("The write-ahead log could not write the record: " + exception.Message, exception),
    };
}
