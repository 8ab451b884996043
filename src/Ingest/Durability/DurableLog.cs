using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Ingest.Transforms.Downsample;
using Ingest.Wal;
using Microsoft.Extensions.Logging;

namespace Ingest.Durability;

/// <summary>
/// The write-ahead log as the pipeline sees it: a batch is appended before its write is answered 2xx, and the
/// consumers' checkpoints are moved from what they finished (<see cref="Ledger"/>).
/// <list type="bullet">
/// <item><c>influx</c>: the raw sink; a record is done once its points are delivered (or excluded, or refused
/// for good by InfluxDB).</item>
/// <item><c>transforms</c>: downsampling; a record is done once a snapshot of the windows that holds it is on disk
/// (<see cref="WindowCheckpoints"/>, <c>transforms.snapshot</c>) with every window written before it delivered.
/// With it go the tiers' clocks (<c>transforms.json</c>), for a replay without the snapshot.</item>
/// <item><c>alerts</c> (with threshold rules and Redis): the threshold check; a record is done once the alert
/// state it led to is saved in Redis with every alert event it caused delivered, so that a replay from here
/// against the saved state derives again exactly the events that may not have reached InfluxDB.</item>
/// </list>
/// At start, <see cref="ReadReplay"/> gives the records some consumer had not finished, with what each still
/// needs; <see cref="Pipeline.PipelineService"/> feeds them through the graph before the daemon takes writes.
/// </summary>
/// <remarks>Thread-safe. Disabled (<c>Wal:Enabled=false</c>) every method is a no-op and sequences stay 0.</remarks>
public sealed partial class DurableLog : IDisposable
{
    public const string RawConsumer = "influx";
    public const string TransformsConsumer = "transforms";
    public const string AlertsConsumer = "alerts";
    private const string TransformsFile = "transforms.json";

    private readonly WriteAheadLog? _log;
    private readonly WalSettings _settings;
    private readonly ILogger<DurableLog> _logger;
    private readonly bool _withTransforms;
    private readonly bool _withAlerts;
    private readonly Histogram<double>? _fsync;
    private long _replayed, _unreadable, _dropped, _rejected;
    private readonly string? _directory;

    private string TransformsPath => Path.Combine(_directory!, TransformsFile);

    public DurableLog(IngestOptions options, IngestMeter meter, ILogger<DurableLog> logger)
    {
        _settings = options.Wal;
        _logger = logger;
        _withTransforms = options.Downsample.Tiers.Count > 0;
        Ledger = new DeliveryLedger();
        if (!_settings.Enabled) return;
        // Without Redis no alert state survives a restart, so there is no saved state to replay against.
        _withAlerts = options.Thresholds.Rules.Count > 0 && options.Redis.Enabled;

        var directory = Path.GetFullPath(_settings.Directory);
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            _log = WriteAheadLog.Open(new WalOptions
            {
                Directory = directory,
                SegmentBytes = _settings.SegmentBytes,
                MaxBytes = _settings.MaxBytes,
                SyncMode = _settings.SyncMode,
                SyncInterval = _settings.SyncInterval,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationError("Wal:Directory", _settings.Directory, $"the write-ahead log cannot be opened there: {e.Message}");
        }
        _directory = directory;
        var recovery = _log.Recovery;
        if (recovery.IsClean) LogOpened(directory, recovery.RecordsFound, recovery.SegmentsScanned);
        else LogRecovered(directory, recovery.ToString());
        foreach (var d in recovery.Damage)
        {
            if (d.Records == 0) LogDamagedHeader(d.Segment, d.Offset, d.Length, d.KeptAs);
            else LogDamageSkipped(d.Segment, d.Offset, d.Length, d.Records, d.FirstSequence, d.LastSequence, d.UnconsumedRecords, d.KeptAs);
        }

        var rawCheckpoint = _log.RegisterConsumer(RawConsumer);
        var transformsCheckpoint = rawCheckpoint;
        if (_withTransforms) transformsCheckpoint = _log.RegisterConsumer(TransformsConsumer);
        Ledger = new DeliveryLedger(rawCheckpoint, transformsCheckpoint, _withAlerts ? _log.RegisterConsumer(AlertsConsumer) : 0, _withAlerts);

        var m = meter.Meter;
        m.CreateObservableGauge("ingest.wal.size", () => _log.SizeBytes, "By", "Bytes of write-ahead log on disk.");
        m.CreateObservableGauge("ingest.wal.size.limit", () => _settings.MaxBytes, "By",
            "Wal:MaxBytes: most bytes the write-ahead log may hold before Wal:FullPolicy applies.");
        m.CreateObservableGauge("ingest.wal.segments", () => _log.SegmentCount, "{segment}", "Segment files of the write-ahead log.");
        m.CreateObservableGauge("ingest.wal.oldest.undelivered.age", () => new[]
        {
            new Measurement<double>(AgeOf(RawConsumer), new KeyValuePair<string, object?>("sink", RawConsumer)),
            new Measurement<double>(_withTransforms ? AgeOf(TransformsConsumer) : 0, new KeyValuePair<string, object?>("sink", TransformsConsumer)),
            new Measurement<double>(_withAlerts ? AgeOf(AlertsConsumer) : 0, new KeyValuePair<string, object?>("sink", AlertsConsumer)),
        }, "s", "Age of the oldest log record a consumer has not finished (0 when none).");
        m.CreateObservableCounter("ingest.wal.records.replayed", () => Interlocked.Read(ref _replayed), "{record}", "Log records replayed at start.");
        m.CreateObservableCounter("ingest.wal.records.truncated", () => recovery.TruncatedRecords, "{record}", "Torn or corrupt records cut from the log's tail at start.");
        m.CreateObservableCounter("ingest.wal.records.skipped", () => recovery.SkippedRecords, "{record}", "Damaged records skipped at start because valid records follow them.");
        m.CreateObservableCounter("ingest.wal.records.lost", () => recovery.SkippedUnconsumedRecords, "{record}", "Skipped damaged records that a consumer had not finished: their points were never delivered.");
        m.CreateObservableCounter("ingest.wal.skipped", () => recovery.SkippedBytes, "By", "Bytes of damage skipped at start (kept in *.damaged-<offset> files).");
        m.CreateObservableCounter("ingest.wal.segments.set_aside", () => (long)recovery.SegmentsSetAside.Count, "{segment}", "Segment files renamed to *.wal.corrupt at start: nothing of the log in them, or sequences going backwards.");
        m.CreateObservableCounter("ingest.wal.records.unreadable", () => Interlocked.Read(ref _unreadable), "{record}", "Records that passed their checksum but held no readable batch; skipped.");
        m.CreateObservableCounter("ingest.wal.records.dropped", () => Interlocked.Read(ref _dropped), "{record}", "Records deleted undelivered because the log was full (Wal:FullPolicy=drop-oldest).");
        m.CreateObservableCounter("ingest.wal.writes.rejected", () => Interlocked.Read(ref _rejected), "{request}", "Writes answered 503 because the log was full or the disk failed.");
        _fsync = m.CreateHistogram<double>("ingest.wal.fsync.duration", "s", "Time an fsync of the log took.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        _log.FsyncCompleted += d => _fsync.Record(d.TotalSeconds);
    }

    public bool Enabled => _log is not null;


    /// <summary>Which consumer has finished which record (and which derived batch is still on its way).</summary>
    public DeliveryLedger Ledger { get; }

    /// <summary>Replay bounds: records at or below this were delivered raw before the restart.</summary>
    public long ReplayRawDoneThrough { get; private set; }

    /// <summary>Replay bounds: records below this were already final for the transforms before the restart.</summary>
    public long ReplayTransformsFrom { get; private set; }

    /// <summary>Replay bounds: records from this one on are checked against the thresholds again.</summary>
    public long ReplayAlertsFrom { get; private set; }

    public WalRecovery? Recovery => _log?.Recovery;

    /// <summary>The log's directory (null when disabled).</summary>
    public string? Directory => _directory;

    public long SizeBytes => _log?.SizeBytes ?? 0;
    public int SegmentCount => _log?.SegmentCount ?? 0;
    public long Replayed => Interlocked.Read(ref _replayed);
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Logs <paramref name="batch"/> and gives it its sequence. False when the log is full (and the policy is to
    /// reject) or the disk failed: the write must be refused, nothing of it was kept.
    /// </summary>
    public async ValueTask<bool> AppendAsync(PointBatch batch, CancellationToken cancellationToken)
    {
        if (_log is null) return true;
        // The record is its head (the names) followed by the batch's own bytes, written from the batch: it is not
        // handed on before the append completes.
        var (head, headLength) = BatchRecord.EncodeHead(batch);
        // The record's sequence is only known once the append returns, and appends return in any order: until
        // then a placeholder no higher than it keeps both checkpoints from passing it.
        var placeholder = _log.LastSequence + 1;
        Ledger.Logged(placeholder);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    batch.Sequence = await _log.AppendAsync(head.AsMemory(0, headLength), batch.DataMemory, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (WalFullException e) when (e.Reason == WalFullReason.SizeLimit && _settings.FullPolicy == WalFullPolicy.DropOldest && attempt < 8)
                {
                    var dropped = _log.DropOldestSegment();
                    if (dropped == 0) throw;
                    Interlocked.Add(ref _dropped, dropped);
                    LogDroppedSegment(dropped);
                }
            }
        }
        catch (IOException e)
        {
            // Full (WalFullException) or a disk error: the write is refused, and the log stays usable.
            Ledger.Abandoned(placeholder);
            Interlocked.Increment(ref _rejected);
            LogAppendRefused(e.Message);
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
        Ledger.Logged(batch.Sequence);
        Ledger.Abandoned(placeholder);
        return true;
    }


    /// <summary>
    /// The records some consumer had not finished at the last checkpoint, oldest first, decoded. With
    /// <paramref name="windows"/> (a snapshot of the windows was restored) the transforms take the records after it,
    /// but not those it already holds; without, they take every record the open windows need, and the tiers' clocks
    /// to restore before replaying are returned. Sets <see cref="ReplayRawDoneThrough"/> and
    /// <see cref="ReplayTransformsFrom"/>; each batch is already counted as pending by the consumers that need it.
    /// </summary>
    public (IEnumerable<PointBatch> Batches, TransformsCheckpoint? Transforms) ReadReplay(RestoredWindows? windows = null)
    {
        if (_log is null) return ([], null);
        var raw = _log.GetCheckpoint(RawConsumer);
        var saved = _withTransforms && windows is null ? ReadTransformsCheckpoint() : null;
        // Without windows nothing is rebuilt from the log, but the transforms (live state) still take every new record.
        var transformsFrom = !_withTransforms ? _log.LastSequence + 1
            : windows is not null ? windows.Covered + 1
            : Math.Min(saved?.From ?? raw + 1, _log.GetCheckpoint(TransformsConsumer) + 1);
        if (_withTransforms && transformsFrom < _log.FirstSequence)
            LogWindowRecordsMissing(transformsFrom, _log.FirstSequence - 1, windows is null ? "the windows' snapshot could not be used" : "records were dropped from the log");
        // Without a saved alert state, the check sees what the transforms see (the open windows' records).
        var alertsFrom = _withAlerts ? _log.GetCheckpoint(AlertsConsumer) + 1 : transformsFrom;
        ReplayRawDoneThrough = raw;
        ReplayTransformsFrom = transformsFrom;
        ReplayAlertsFrom = alertsFrom;
        Ledger.ReplayBounds(raw, transformsFrom, alertsFrom, windows?.Held ?? []);
        return (Read(Math.Min(Math.Min(raw + 1, transformsFrom), alertsFrom)), saved);

        IEnumerable<PointBatch> Read(long from)
        {
            foreach (var record in _log.ReadFrom(from))
            {
                PointBatch batch;
                try
                {
                    batch = BatchRecord.Decode(record.Payload.Span, record.Sequence);
                }
                catch (FormatException e)
                {
                    Interlocked.Increment(ref _unreadable);
                    LogUnreadable(record.Sequence, e.Message);
                    continue;
                }
                Ledger.Replayed(record.Sequence);
                Interlocked.Increment(ref _replayed);
                yield return batch;
            }
        }
    }

    /// <summary>
    /// The alert state as of every record below <paramref name="from"/> is saved, with its events delivered:
    /// a replay need not check those records again.
    /// </summary>
    public void CheckpointAlerts(long from)
    {
        if (_log is null || !_withAlerts || from <= 1) return;
        try
        {
            _log.Checkpoint(AlertsConsumer, Math.Min(from - 1, _log.LastSequence));
        }
        catch (IOException e)
        {
            LogCheckpointFailed(e.Message);
        }
    }

    /// <summary>Records the raw sink's delivery progress. Call periodically.</summary>
    public void CheckpointRaw()
    {
        if (_log is null) return;
        try
        {
            var raw = Ledger.Checkpoint(LedgerConsumer.Raw);
            if (raw > 0) _log.Checkpoint(RawConsumer, Math.Min(raw, _log.LastSequence));
        }
        catch (IOException e)
        {
            LogCheckpointFailed(e.Message);
        }
    }

    /// <summary>
    /// A snapshot of the windows holding every record up to <c>fallback.Sequence</c> is on disk, and every window
    /// written before it was taken is delivered: the transforms are done with those records. The clocks and replay
    /// start for a start without the snapshot (<c>transforms.json</c>) are saved first, then the log may delete them.
    /// </summary>
    /// <exception cref="IOException">The clocks could not be saved; the checkpoint did not move.</exception>
    public void CheckpointTransforms(TransformsCheckpoint fallback)
    {
        if (_log is null || !_withTransforms) return;
        WriteTransformsCheckpoint(fallback);
        if (fallback.Sequence > 0) _log.Checkpoint(TransformsConsumer, Math.Min(fallback.Sequence, _log.LastSequence));
    }

    /// <summary>Persists the checkpoints now (at shutdown).</summary>
    public void Flush()
    {
        try
        {
            _log?.FlushCheckpoints();
        }
        catch (IOException e)
        {
            LogCheckpointFailed(e.Message);
        }
    }

    /// <summary>Age of the oldest record <paramref name="consumer"/> is not done with; 0 when none.</summary>
    public double OldestUndeliveredSeconds(string consumer) =>
        (consumer == TransformsConsumer && !_withTransforms) || (consumer == AlertsConsumer && !_withAlerts) ? 0 : AgeOf(consumer);

    private double AgeOf(string consumer) =>
        _log?.OldestUnconsumedAppendTime(consumer) is { } t ? Math.Max(0, (DateTimeOffset.UtcNow - t).TotalSeconds) : 0;

    private TransformsCheckpoint? ReadTransformsCheckpoint()
    {
        var path = TransformsPath;
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<TransformsCheckpoint>(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            // Without the clocks a replay could rewrite final windows half-filled; starting from the log's own
            // transforms checkpoint without them is the lesser harm, and it is said.
            LogBadTransformsCheckpoint(path, e.Message);
            return null;
        }
    }

    private void WriteTransformsCheckpoint(TransformsCheckpoint checkpoint)
    {
        var path = TransformsPath;
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, checkpoint);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    public void Dispose() => _log?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Write-ahead log at {Directory}: {Records} records in {Segments} segments")]
    private partial void LogOpened(string directory, long records, int segments);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-ahead log at {Directory} was damaged and repaired: {Recovery}")]
    private partial void LogRecovered(string directory, string recovery);

    [LoggerMessage(Level = LogLevel.Error, Message = "Write-ahead log segment {Segment} is damaged at offset {Offset} ({Length} bytes): {Records} records skipped (sequences {FirstSequence}-{LastSequence}), {Unconsumed} of them not yet delivered and lost; the records after the damage are kept. The damaged bytes are in {KeptAs} (delete it once inspected)")]
    private partial void LogDamageSkipped(string segment, long offset, long length, long records, long firstSequence, long lastSequence, long unconsumed, string keptAs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-ahead log segment {Segment} has a damaged header ({Length} bytes at offset {Offset}); no record was lost. The damaged bytes are in {KeptAs} (delete it once inspected)")]
    private partial void LogDamagedHeader(string segment, long offset, long length, string keptAs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-ahead log refused a write, answering 503: {Error}")]
    private partial void LogAppendRefused(string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Write-ahead log full: deleted the oldest segment, {Records} undelivered records dropped (Wal:FullPolicy=drop-oldest)")]
    private partial void LogDroppedSegment(long records);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-ahead log record {Sequence} holds no readable batch, skipped: {Error}")]
    private partial void LogUnreadable(long sequence, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record write-ahead log progress: {Error}")]
    private partial void LogCheckpointFailed(string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The downsampling windows need write-ahead log records {From} to {To}, which the log no longer holds ({Why}): the windows open then are rebuilt without those records' points, and written so")]
    private partial void LogWindowRecordsMissing(long from, long to, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transforms checkpoint {Path} is unreadable ({Error}); replaying without the saved window clocks")]
    private partial void LogBadTransformsCheckpoint(string path, string error);
}

/// <summary>What a replay needs to rebuild the open windows: where to start, and the tiers' clocks after <see cref="Sequence"/>.</summary>
public sealed record TransformsCheckpoint(long From, long Sequence, TierClock[] Clocks);

/// <summary>A snapshot of the windows was restored: it holds every record up to <see cref="Covered"/>, and <see cref="Held"/> above it.</summary>
public sealed record RestoredWindows(long Covered, long[] Held);
