using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Telemetry;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Snapshots;
using Microsoft.Extensions.Logging;

namespace Ingest.Durability;

/// <summary>
/// Checkpoints the downsampling windows, as a stream processor snapshots its operators' state, so that the
/// write-ahead log need not keep every raw record of every open window: every
/// <c>Downsample:SnapshotInterval</c> the state of every tier is written to <c>transforms.snapshot</c> beside the
/// log, and once it is on disk, with every window written before it delivered, the <c>transforms</c> consumer's
/// checkpoint moves to the records it holds. At start the snapshot is read back and only the records after it are
/// replayed through the tiers.
/// </summary>
/// <remarks>
/// <para>A snapshot is the state as it was when it began (<see cref="Transforms.Downsample.DownsampleStage.BeginSnapshot"/>),
/// written in slices of about <see cref="SliceBudget"/> while the transforms go on between them: they pause for the
/// start and for each slice only. It is spooled in memory and written to the file between slices, so neither the
/// transforms nor a window written ahead of its turn wait for the disk.</para>
/// <para>A window already final at the snapshot is not in it; it must have reached InfluxDB before the snapshot is
/// used, or a crash would lose it. So the snapshot replaces the previous one only once every derived batch emitted
/// before it began is delivered (the rule the clocks-only checkpoint had); until then the previous one stays, and
/// the log with it.</para>
/// </remarks>
public sealed partial class WindowCheckpoints
{
    /// <summary>Longest the transforms are held for one slice of a snapshot.</summary>
    public static readonly TimeSpan SliceBudget = TimeSpan.FromMilliseconds(10);

    private readonly DurableLog _log;
    private readonly TransformRunner _runner;
    private readonly DownsampleTransform _downsample;
    private readonly ILogger _logger;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _pause;
    private long _saved, _failed, _lastBytes;
    private long _changesSaved = -1;
    private long _longestHold;

    public WindowCheckpoints(DurableLog log, TransformRunner runner, DownsampleTransform downsample, IngestMeter meter, ILogger<WindowCheckpoints> logger)
    {
        _log = log;
        _runner = runner;
        _downsample = downsample;
        _logger = logger;
        var m = meter.Meter;
        _duration = m.CreateHistogram<double>("ingest.downsample.snapshot.duration", "s",
            "Time to write a snapshot of the downsampling windows, from its start to the file on disk.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _pause = m.CreateHistogram<double>("ingest.downsample.snapshot.pause", "s",
            "Time the transforms were held for one step of a snapshot (its start, or one slice of windows).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        m.CreateObservableGauge("ingest.downsample.snapshot.size", () => Interlocked.Read(ref _lastBytes), "By", "Bytes of the last snapshot of the downsampling windows saved.");
        m.CreateObservableCounter("ingest.downsample.snapshots", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _saved), new KeyValuePair<string, object?>("outcome", "saved")),
            new Measurement<long>(Interlocked.Read(ref _failed), new KeyValuePair<string, object?>("outcome", "failed")),
        }, "{snapshot}", "Snapshots of the downsampling windows, by outcome.");
    }

    private string FilePath => Path.Combine(_log.Directory!, WindowSnapshotFile.FileName);

    /// <summary>The last snapshot saved (or restored at start), for <c>/api/status</c>; null before the first.</summary>
    public SnapshotInfo? Last { get; private set; }

    /// <summary>
    /// Reads <c>transforms.snapshot</c> into the downsampling stage, before anything is replayed: null when there is
    /// none, or when it cannot be used (then it is set aside as <c>.corrupt</c>, said loudly, and the replay falls back
    /// to the log and the saved clocks).
    /// </summary>
    public RestoredWindows? Restore()
    {
        var path = FilePath;
        TryDelete(path + WindowSnapshotFile.TempSuffix); // a snapshot a crash interrupted, or that never became safe
        if (!File.Exists(path)) return null;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var (header, stage, notes) = WindowSnapshotFile.Read(path, new DownsampleOptions { Tiers = _downsample.Engine.Tiers });
            _runner.RunExclusive(() =>
            {
                _downsample.Restore(stage);
                return 0;
            });
            _runner.AlreadyProcessed(header.Held);
            foreach (var note in notes) LogRestoreNote(note);
            var bytes = new FileInfo(path).Length;
            Interlocked.Exchange(ref _lastBytes, bytes);
            Last = new SnapshotInfo(header.Covered, bytes, header.TakenAt, 0, 0, 0);
            LogRestored(header.Covered, stage.GetStats().Sum(s => (long)s.OpenWindows), bytes, header.TakenAt, Stopwatch.GetElapsedTime(started).TotalSeconds);
            return new RestoredWindows(header.Covered, header.Held);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or OverflowException or ArgumentException)
        {
            var aside = path + WindowSnapshotFile.CorruptSuffix;
            try
            {
                File.Move(path, aside, overwrite: true);
            }
            catch (IOException)
            {
            }
            LogRestoreFailed(path, e.Message, aside);
            return null;
        }
    }

    /// <summary>
    /// Takes a snapshot and, once every window written before it is delivered, makes it the one a restart uses and
    /// lets the log go of the records it holds. Skipped when the transforms took nothing since the last one. With
    /// <paramref name="final"/> (at shutdown, the runner stopped) it does not wait: a snapshot that is not safe yet is
    /// dropped. False when nothing was saved.
    /// </summary>
    public async Task<bool> TakeAsync(bool final, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        _longestHold = 0;
        var temp = FilePath + WindowSnapshotFile.TempSuffix;
        using var spool = new SpoolStream();
        using var writer = new StateWriter(spool);
        var begun = Hold(() =>
        {
            long changes = _downsample.Changes;
            // Nothing new, or the last one is still being written (stuck on the disk: shutdown does not wait for it).
            if (changes == _changesSaved || _downsample.Engine.SnapshotInProgress) return null;
            // Every record up to the transforms' checkpoint is taken (or was refused and is nobody's); above it, the
            // ones taken out of order are listed.
            long covered = _log.Ledger.Checkpoint(LedgerConsumer.Transforms);
            var held = _runner.ProcessedAfter(covered);
            var engine = _downsample.Engine;
            var fallback = new Fallback(Math.Min(engine.OldestRetainedSequence, covered + 1), covered, engine.GetClocks());
            WindowSnapshotFile.WriteHeader(writer, covered, held, DateTimeOffset.UtcNow);
            return new Begun(engine.BeginSnapshot(writer), fallback, _downsample.Emitted, changes);
        });
        if (begun is null) return false;

        var snapshot = begun.Snapshot;
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                while (!Hold(() => snapshot.WriteSome(SliceBudget)))
                {
                    spool.DrainTo(file);
                    cancellationToken.ThrowIfCancellationRequested();
                    await Task.Yield();
                }
                Hold(() =>
                {
                    snapshot.Complete();
                    writer.Complete();
                    return 0;
                });
                spool.DrainTo(file);
                file.Flush(flushToDisk: true);
            }
            var writing = Stopwatch.GetElapsedTime(started).TotalSeconds;
            _duration.Record(writing);

            // Safe once every window written before the snapshot began is in InfluxDB (or dropped by its queue's policy).
            while (_log.Ledger.OldestPending(LedgerConsumer.Derived) <= begun.Emitted)
            {
                if (final) throw new OperationCanceledException("windows written before the final snapshot are not delivered");
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
            Promote(temp, begun, spool.Length, writing);
            return true;
        }
        catch (OperationCanceledException)
        {
            Abandon(snapshot, temp);
            if (final) LogFinalSkipped();
            return false;
        }
        catch (Exception e)
        {
            // A disk error, or a bug: either way the log keeps the windows' records, and the next snapshot tries again.
            Abandon(snapshot, temp);
            Interlocked.Increment(ref _failed);
            LogSnapshotFailed(e.GetType().Name + ": " + e.Message);
            return false;
        }
    }

    private void Promote(string temp, Begun begun, long bytes, double writing)
    {
        var path = FilePath;
        File.Move(temp, path, overwrite: true);
        Ingest.Wal.DirectorySync.TrySync(_log.Directory!);
        _log.CheckpointTransforms(new TransformsCheckpoint(begun.Fallback.From, begun.Fallback.Covered, begun.Fallback.Clocks));
        _changesSaved = begun.Changes;
        Interlocked.Increment(ref _saved);
        Interlocked.Exchange(ref _lastBytes, bytes);
        Last = new SnapshotInfo(begun.Fallback.Covered, bytes, DateTimeOffset.UtcNow, begun.Snapshot.Windows, writing, (double)_longestHold / Stopwatch.Frequency);
        LogSaved(begun.Fallback.Covered, begun.Snapshot.Windows, bytes, writing, (double)_longestHold / Stopwatch.Frequency);
    }

    private void Abandon(WindowSnapshot snapshot, string temp)
    {
        _runner.RunExclusive(() =>
        {
            snapshot.Abort();
            return 0;
        });
        TryDelete(temp);
    }

    /// <summary>Runs <paramref name="step"/> under the runner's exclusion, timing the pause (not the wait for the exclusion).</summary>
    private T Hold<T>(Func<T> step)
    {
        long held = 0;
        var result = _runner.RunExclusive(() =>
        {
            held = Stopwatch.GetTimestamp();
            try
            {
                return step();
            }
            finally
            {
                held = Stopwatch.GetTimestamp() - held;
            }
        });
        _pause.Record((double)held / Stopwatch.Frequency);
        _longestHold = Math.Max(_longestHold, held);
        return result;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    private sealed record Fallback(long From, long Covered, TierClock[] Clocks);

    private sealed record Begun(WindowSnapshot Snapshot, Fallback Fallback, long Emitted, long Changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Restored the downsampling windows from their snapshot: {Windows} windows, {Bytes} bytes, taken {TakenAt:o}, holding log records up to {Covered}; read in {Seconds:F2} s")]
    private partial void LogRestored(long covered, long windows, long bytes, DateTimeOffset takenAt, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Snapshot of the downsampling windows: {Note}")]
    private partial void LogRestoreNote(string note);

    [LoggerMessage(Level = LogLevel.Error, Message = "The snapshot of the downsampling windows {Path} cannot be used ({Error}); set aside as {Aside}. The windows are rebuilt from the write-ahead log as far as it still holds their records")]
    private partial void LogRestoreFailed(string path, string error, string aside);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Saved a snapshot of the downsampling windows: log records up to {Covered}, {Windows} windows, {Bytes} bytes written in {Seconds:F3} s, longest pause {Pause:F4} s")]
    private partial void LogSaved(long covered, long windows, long bytes, double seconds, double pause);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write a snapshot of the downsampling windows; the write-ahead log keeps their records meanwhile: {Error}")]
    private partial void LogSnapshotFailed(string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "No final snapshot of the downsampling windows: windows written before it are not all delivered; the next start rebuilds them from the last snapshot and the log")]
    private partial void LogFinalSkipped();
}

/// <summary>
/// The last snapshot of the windows: the log records it holds, its size, when it was saved, its windows, the seconds
/// it took to write (from its start until the file was on disk) and the longest the transforms were held for it.
/// </summary>
public sealed record SnapshotInfo(long Covered, long Bytes, DateTimeOffset SavedAt, long Windows, double Seconds, double LongestPauseSeconds);
