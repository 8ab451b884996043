using System.Text.Json;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Hosting;
using Ingest.Sinks.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sinks.Redis;

/// <summary>
/// Keeps the pipeline's status in Redis for other programs: <c>ingest:status</c> (with the default <c>Redis:KeyPrefix</c>), a JSON string (stages with
/// points received, sent, dropped and dead-lettered, queue depths, paused, the log's size, the configured sources' state and counters, and the time of writing), rewritten
/// every second with a 30 s expiry, so a daemon that stopped leaves no stale status behind.
/// </summary>
public sealed partial class StatusPublisher(Admission.WriteAdmission admission, Buffering.IPointBuffer buffer, Durability.DurableLog log, PipelineTelemetry telemetry,
    IngestOptions options, RedisConnection redis, Ingest.Sources.SourceInstruments sources, ILogger<StatusPublisher> logger) : BackgroundService
{
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Redis.Enabled || !options.Live.Enabled) return;
        await Periodic.RunAsync(TimeSpan.FromSeconds(1), PublishAsync, stoppingToken).ConfigureAwait(false);
    }

    private byte[] Render() => JsonSerializer.SerializeToUtf8Bytes(new
    {
        updatedAt = DateTimeOffset.UtcNow,
        paused = admission.Paused,
        buffer = new { points = buffer.Depth, capacity = buffer.Capacity },
        wal = log.Enabled ? new { sizeBytes = log.SizeBytes, segments = log.SegmentCount } : null,
        stages = telemetry.Stages.Select(s => new
        {
            name = s.Name,
            kind = s.Kind,
            received = s.Received,
            sent = s.Sent,
            dropped = s.Dropped,
            deadLettered = s.DeadLettered,
            queue = s.QueueDepth is null ? (long?)null : s.QueueDepth(),
        }),
        sources = sources.Describe(),
    });

    private async Task PublishAsync()
    {
        try
        {
            var db = (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
            await db.StringSetAsync(options.Redis.StatusKey, Render(), TimeSpan.FromSeconds(30)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            _failing = false;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Redis being down is reported by /ready; say it here once per outage, not every second.
            if (!_failing) LogFailed(e.Message);
            _failing = true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the pipeline status to Redis: {Error}")]
    private partial void LogFailed(string error);
}
