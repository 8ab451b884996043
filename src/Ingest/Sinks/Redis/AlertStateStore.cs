using Ingest.Configuration;
using Ingest.Pipeline;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sinks.Redis;

/// <summary>
/// Keeps the threshold states in Redis, so that a restart resumes them (a half-run <c>For</c> included):
/// the changed states are written every <c>Thresholds:StateFlushInterval</c>, coalesced per alert, and read
/// back once at start, before the first batch is evaluated.
/// </summary>
/// <remarks>
/// Keys: <c>ingest:alerts:state</c>, a hash from alert id to the state as JSON; <c>ingest:alerts:watermark</c>,
/// the event-time watermark in nanoseconds. Writes that fail are kept and tried again, newest state winning.
/// </remarks>
public sealed partial class AlertStateStore(IngestGraph graph, IngestOptions options, RedisConnection redis, ILogger<AlertStateStore> logger) : BackgroundService
{
    public const string StateKey = "ingest:alerts:state";
    public const string WatermarkKey = "ingest:alerts:watermark";

    private readonly Dictionary<string, AlertStateRecord> _unwritten = new();

    private ThresholdCheck? Engine => graph.Thresholds?.Engine;

    /// <summary>Restores saved states into the engine. Called before the pipeline starts; never throws for Redis trouble.</summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        if (Engine is not { } engine || !options.Redis.Enabled) return;
        try
        {
            var db = (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
            var entries = await db.HashGetAllAsync(StateKey).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            var watermark = (long?)await db.StringGetAsync(WatermarkKey).ConfigureAwait(false) ?? long.MinValue;
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
            var result = graph.Alerts!.RunExclusive(() => engine.Import(records, watermark));
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
        using var timer = new PeriodicTimer(options.Thresholds.StateFlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false)) await SaveAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await SaveAsync().ConfigureAwait(false);
    }

    /// <summary>Writes every state changed since the last save, and the watermark.</summary>
    public async Task SaveAsync()
    {
        if (Engine is not { } engine) return;
        var dirty = new List<AlertStateRecord>();
        var watermark = graph.Alerts!.RunExclusive(() =>
        {
            engine.TakeDirty(dirty);
            return engine.Watermark;
        });
        foreach (var r in dirty) _unwritten[r.Id] = r;
        if (_unwritten.Count == 0) return;
        try
        {
            var db = (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
            var entries = _unwritten.Values.Select(r => new HashEntry(r.Id, ThresholdSnapshotJson.Serialize(r))).ToArray();
            await Task.WhenAll(
                db.HashSetAsync(StateKey, entries),
                db.StringSetAsync(WatermarkKey, watermark)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            _unwritten.Clear();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogSaveFailed(_unwritten.Count, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restored {Restored} alert states from Redis ({Skipped} skipped: rule gone or no longer matching)")]
    private partial void LogRestored(int restored, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not restore alert states from Redis, starting without them: {Error}")]
    private partial void LogRestoreFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert state {Id} in Redis is not readable and was skipped: {Error}")]
    private partial void LogBadRecord(string id, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not save {Count} alert states to Redis, will retry: {Error}")]
    private partial void LogSaveFailed(int count, string error);
}
