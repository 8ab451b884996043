using Ingest.Configuration;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.Hosting;
using Ingest.Sinks.Redis;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Durability;

/// <summary>
/// Keeps the threshold states in Redis, so that a restart resumes them (a half-run <c>For</c> included):
/// the changed states are written every <c>Thresholds:StateFlushInterval</c>, coalesced per alert, and read
/// back once at start, before the first batch is evaluated.
/// </summary>
/// <remarks>
/// <para>Keys (with the default <c>Redis:KeyPrefix</c>): <c>ingest:alerts:state</c>, a hash from alert id to the state as JSON; <c>ingest:alerts:watermark</c>,
/// the event-time watermark in nanoseconds. Writes that fail are kept and tried again, newest state winning.</para>
/// <para>Redis may lose what was written (a restart without persistence, or from an older snapshot; FLUSHALL): when
/// the connection that carries the writes is restored, or the state hash is missing though states were written
/// to it (it is never deleted otherwise), the next take holds every state, not only the changed ones, and goes out
/// like any other take; this is logged once per loss.</para>
/// <para>With the write-ahead log, a state is written only once every alert event derived before it was taken
/// has been delivered to InfluxDB (or dropped by policy, counted): each take is a cut — the states as of every
/// log record below <see cref="Cut.From"/> checked, and the events up to <see cref="Cut.Emitted"/>. Once a cut is
/// written, the log's <c>alerts</c> checkpoint moves to it. After a crash the saved state is therefore never
/// ahead of the delivered events, and replaying the records from the checkpoint derives again every event that
/// may have been lost in memory. At most two cuts wait at a time (the oldest, and the newer ones merged), so an
/// InfluxDB outage costs memory per changed state, not per flush.</para>
/// <para>Concurrency: <see cref="SaveAsync"/> runs on this service's loop, one call at a time (the last after the loop,
/// at shutdown). <see cref="RestoreAsync"/> runs once at the pipeline's start and may overlap the first saves; of this
/// class's own fields it only sets whether the state hash should exist (a hint: at worst one needless check). The
/// connection's events only set a flag.</para>
/// </remarks>
public sealed partial class AlertStateStore(AlertPath? alerts, DurableLog log, IngestOptions options, RedisConnection redis, ILogger<AlertStateStore> logger) : BackgroundService
{
    // States per HSET: the command's arguments (two values of 16 bytes per state) stay below the large object
    // heap's 85 000 bytes, whose allocations only a full collection frees. Every evaluated series' state changes
    // with each point (last value, last evaluated), so a save can hold tens of thousands.
    private const int StatesPerCommand = 2_000;

    private readonly Dictionary<string, AlertStateRecord> _unwritten = new();
    private Cut? _waiting, _next;
    // 1 once the connection carrying the writes has been restored: Redis may have restarted and lost the states.
    // Set by the client's event, taken by SaveAsync.
    private int _reconnected;
    // The state hash should exist: states were restored from it or written to it since the last full take.
    private bool _holdsStates;

    /// <summary>
    /// States taken at one moment, with the first log record the check had not evaluated then and the emission
    /// number of the last alert events queued by then.
    /// </summary>
    private sealed class Cut(long from, long emitted, long watermark)
    {
        public long From { get; private set; } = from;
        public long Emitted { get; private set; } = emitted;
        public long Watermark { get; private set; } = watermark;
        public Dictionary<string, AlertStateRecord> States { get; } = new();

        /// <summary>Folds a later cut into this one: still a cut, as of the later moment.</summary>
        public void Absorb(Cut later)
        {
            foreach (var (id, r) in later.States) States[id] = r;
            From = later.From;
            Emitted = later.Emitted;
            Watermark = later.Watermark;
        }
    }

    private ThresholdCheck? Engine => alerts?.Check.Engine;

    /// <summary>Restores saved states into the engine. Called before the pipeline starts; never throws for Redis trouble.</summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        if (Engine is not { } engine || !options.Redis.Enabled) return;
        try
        {
            var db = (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
            var entries = await db.HashGetAllAsync(options.Redis.AlertStateKey).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            _holdsStates = entries.Length > 0;
            var watermark = (long?)await db.StringGetAsync(options.Redis.AlertWatermarkKey).ConfigureAwait(false) ?? long.MinValue;
            var records = new List<AlertStateRecord>(entries.Length);
            foreach (var e in entries)
            {
                try
                {
                    records.Add(ThresholdSnapshotJson.DeserializeRecord((byte[])e.Value!));
                }
                catch (System.Text.Json.JsonException ex)
                {
                    LogBadRecord(e.Name.ToString(), ex.Message);
                }
            }
            var result = alerts!.RunExclusive(() => engine.Import(records, watermark));
            LogRestored(result.Restored, result.Skipped);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRestoreFailed(e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Engine is null || !options.Redis.Enabled) return;
        // The subscription connection carries no states; its drops say nothing the interactive one does not.
        redis.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive) Interlocked.Exchange(ref _reconnected, 1);
        };
        await Periodic.RunAsync(options.Thresholds.StateFlushInterval, SaveAsync, stoppingToken).ConfigureAwait(false);
        await SaveAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the states changed since the last take, and writes those whose alert events have all been delivered,
    /// with the watermark; then moves the log's <c>alerts</c> checkpoint past the records they cover. After Redis
    /// may have lost the states, the take holds every state.
    /// </summary>
    public async Task SaveAsync()
    {
        if (Engine is null) return;
        var check = alerts!;
        var lost = await LostReasonAsync().ConfigureAwait(false);
        var dirty = new List<AlertStateRecord>();
        // Under the check's lock only what must be read together; the ids are hashed after it, since the write
        // path waits for this lock.
        var taken = check.RunExclusive(() =>
        {
            // Read under the lock: a reload may have put another engine in place since.
            var engine = check.Check.Engine;
            engine.TakeDirty(dirty);
            // Every state as of the same moment as the changed ones: a full take is a cut like any other, written
            // once the events derived before it are delivered, so Redis is not ahead of them after a loss either.
            if (lost is not null) dirty.AddRange(engine.Export().States);
            // Every record below From has been checked; records pending from an append in progress count too.
            var pending = log.Ledger.OldestPending(LedgerConsumer.Check);
            return new Cut(pending == long.MaxValue ? log.Ledger.Highest(LedgerConsumer.Check) + 1 : pending, check.Emitted, engine.Watermark);
        });
        foreach (var r in dirty) taken.States[r.Id] = r;
        if (lost is not null)
        {
            LogFullRewrite(lost, taken.States.Count);
            // Until a write succeeds, a missing hash is no news (there may be no state to write at all).
            _holdsStates = false;
        }
        if (_waiting is null) _waiting = taken;
        else if (_next is null) _next = taken;
        else _next.Absorb(taken);

        // The newest cut whose events are all delivered: an emission number is delivered once no emission at or
        // below it is pending. Without the log there is no replay to derive lost events again: states are
        // written as they are.
        Cut? ready = null;
        while (_waiting is { } cut && (!log.Enabled || log.Ledger.OldestPending(LedgerConsumer.AlertEvents) > cut.Emitted))
        {
            foreach (var (id, r) in cut.States) _unwritten[id] = r;
            ready = cut;
            (_waiting, _next) = (_next, null);
        }
        if (ready is null) return;
        if (_unwritten.Count > 0)
        {
            try
            {
                var db = (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
                await Task.WhenAll(Write(db, ready.Watermark)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                _unwritten.Clear();
                _holdsStates = true;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The checkpoint still moves: the events are delivered, and holding the log back for a Redis
                // outage would end in refusing writes. A crash before Redis returns restarts from older states.
                LogSaveFailed(_unwritten.Count, e.Message);
            }
        }
        log.CheckpointAlerts(ready.From);
    }

    /// <summary>
    /// Why Redis may have lost the states written to it, or null. Two signs, as neither sees every loss: the
    /// connection carrying the writes was restored (a restarted Redis comes back empty, or from an older snapshot
    /// that still has the hash), and the state hash is missing though it should exist (Redis emptied while the
    /// connection stayed up: FLUSHALL, a proxy in front of a restarted server, eviction); the second costs one
    /// EXISTS per save. Null while Redis is not connected or does not answer: the full take waits until it can be
    /// written, and this save's write fails and keeps its states.
    /// </summary>
    private async Task<string?> LostReasonAsync()
    {
        try
        {
            var multiplexer = await redis.GetAsync().ConfigureAwait(false);
            if (!multiplexer.IsConnected) return null;
            if (Interlocked.Exchange(ref _reconnected, 0) == 1) return "the connection was restored";
            var key = options.Redis.AlertStateKey;
            if (_holdsStates && !await multiplexer.GetDatabase().KeyExistsAsync(key).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false))
                return key + " is missing";
            return null;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Sends the unwritten states, <see cref="StatesPerCommand"/> to an HSET, and the watermark; pipelined.</summary>
    private List<Task> Write(IDatabase db, long watermark)
    {
        var writes = new List<Task>(_unwritten.Count / StatesPerCommand + 2);
        var left = _unwritten.Count;
        HashEntry[]? entries = null;
        var n = 0;
        foreach (var (id, record) in _unwritten)
        {
            entries ??= new HashEntry[Math.Min(StatesPerCommand, left)];
            entries[n++] = new HashEntry(id, ThresholdSnapshotJson.Serialize(record));
            if (n < entries.Length) continue;
            writes.Add(db.HashSetAsync(options.Redis.AlertStateKey, entries));
            left -= n;
            (entries, n) = (null, 0);
        }
        writes.Add(db.StringSetAsync(options.Redis.AlertWatermarkKey, watermark));
        return writes;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restored {Restored} alert states from Redis ({Skipped} skipped: rule gone or no longer matching)")]
    private partial void LogRestored(int restored, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not restore alert states from Redis, starting without them: {Error}")]
    private partial void LogRestoreFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert state {Id} in Redis is not readable and was skipped: {Error}")]
    private partial void LogBadRecord(string id, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis may have lost the alert states ({Reason}): writing all {Count} again")]
    private partial void LogFullRewrite(string reason, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not save {Count} alert states to Redis, will retry: {Error}")]
    private partial void LogSaveFailed(int count, string error);
}
