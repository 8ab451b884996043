using System.Diagnostics;
using Ingest.Buffering;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging;

namespace Ingest.Admission;

/// <summary>
/// The one way points enter the graph. A source decodes what it received into a <see cref="PointBatch"/> (its
/// target in <see cref="PointBatch.Database"/> and <see cref="PointBatch.RetentionPolicy"/>) and offers it here
/// with what it had to reject; the verdict says whether it may acknowledge. The replay of the write-ahead log at
/// start takes the same steps in the same order, minus the append.
/// <list type="number">
/// <item>Room in the buffer is reserved (waiting up to <c>Buffer:FullWaitTimeout</c>), so that a batch refused
/// for want of it has not been logged: a crash can then never replay points their source was told to resend.</item>
/// <item>The batch is appended to the write-ahead log: from here it survives a crash.</item>
/// <item>The buffer takes it into the reserved room; the graph delivers it from there.</item>
/// <item>The threshold check runs over it before the verdict, so that alert latency counts from acceptance.</item>
/// </list>
/// </summary>
/// <remarks>
/// Concurrency: <see cref="AdmitAsync"/> is called by any number of sources and requests at once; the buffer,
/// the log and the alert path serialise what they must. The caller hands the batch over in every case: it is
/// returned to the pool when refused or empty.
/// </remarks>
public sealed partial class WriteAdmission(
    AdmissionSettings settings,
    IPointBuffer buffer,
    DurableLog log,
    AlertPath? alerts,
    StageStats bufferStats,
    PipelineTelemetry telemetry,
    ILogger<WriteAdmission> logger,
    InfluxSchema? schema = null)
{
    private static readonly TimeSpan ReplayWaitLog = TimeSpan.FromSeconds(5);

    /// <summary>Set by <c>POST /api/pipeline/pause</c>: every source is refused until resumed.</summary>
    public bool Paused { get; set; }

    /// <summary>
    /// Registers a source under its stage name (<c>http</c>, <c>nats</c>, …): its received, sent and dropped
    /// points appear in <c>/api/pipeline</c> and the stage metrics under that name. A name registered before
    /// gives the same stage (a source started again counts on).
    /// </summary>
    public AdmissionSource Register(string name) =>
        telemetry.Stages.FirstOrDefault(s => s.Name == name && s.Kind == "source") is { } known
            ? new AdmissionSource(known)
            : AdmissionSource.Register(telemetry, name);

    /// <summary>
    /// Offers <paramref name="batch"/> from <paramref name="source"/>, with the count of items the source could
    /// not decode (<paramref name="rejected"/>). The batch is the admission's from here on.
    /// </summary>
    /// <param name="cancellationToken">Gives up the wait for buffer room (the client went away); once the batch
    /// is logged nothing cancels it.</param>
    public async ValueTask<AdmissionVerdict> AdmitAsync(PointBatch batch, int rejected, AdmissionSource source, CancellationToken cancellationToken)
    {
        var stats = source.Stats;
        var points = batch.Count;
        stats.AddReceived(points + rejected);
        if (rejected > 0) stats.AddDropped("parse", rejected);
        if (points == 0)
        {
            PointBatch.Return(batch);
            return AdmissionVerdict.Take(0, rejected);
        }
        if (Paused)
            return Refuse(batch, stats, RefusalReason.Paused, "paused", rejected);

        // What InfluxDB would refuse is refused here, before anything is logged or acknowledged.
        var checkedSchema = SchemaVerdict.Pass;
        if (schema is not null)
        {
            try
            {
                checkedSchema = await schema.CheckAsync(batch, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                PointBatch.Return(batch);
                throw;
            }
            if (checkedSchema.Refused)
            {
                stats.AddDropped("schema", points);
                PointBatch.Return(batch);
                return AdmissionVerdict.Take(0, rejected + points) with { Schema = checkedSchema };
            }
            if (checkedSchema.Dropped is { Count: var schemaDropped and > 0 })
            {
                stats.AddDropped("schema", schemaDropped);
                rejected += schemaDropped;
                points = batch.Count;
                if (points == 0)
                {
                    PointBatch.Return(batch);
                    return AdmissionVerdict.Take(0, rejected) with { Schema = checkedSchema };
                }
            }
        }

        bool room;
        try
        {
            room = await buffer.TryReserveAsync(points, settings.FullWait, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            checkedSchema.Undo();
            PointBatch.Return(batch);
            throw;
        }
        if (!room)
        {
            checkedSchema.Undo();
            return Refuse(batch, stats, RefusalReason.BufferFull, "buffer_full", rejected);
        }
        if (!await log.AppendAsync(batch, CancellationToken.None).ConfigureAwait(false))
        {
            checkedSchema.Undo();
            buffer.Release(points);
            return Refuse(batch, stats, RefusalReason.LogFull, "wal_full", rejected);
        }
        await EnqueueAndCheckAsync(batch).ConfigureAwait(false);
        stats.AddSent(points);
        return AdmissionVerdict.Take(points, rejected) with { Schema = checkedSchema };
    }

    /// <summary>
    /// Takes a record of the write-ahead log back in at start: the same steps as <see cref="AdmitAsync"/> but the
    /// append, waiting for buffer room as long as it takes (the sinks run and free it), and checked against the
    /// thresholds only when the saved alert state does not cover it.
    /// </summary>
    public async ValueTask ReplayAsync(PointBatch batch, long replayedSoFar, CancellationToken cancellationToken)
    {
        while (!await buffer.TryReserveAsync(batch.Count, ReplayWaitLog, cancellationToken).ConfigureAwait(false))
            LogReplayWaiting(replayedSoFar, buffer.Depth);
        await EnqueueAndCheckAsync(batch).ConfigureAwait(false);
    }

    private async ValueTask EnqueueAndCheckAsync(PointBatch batch)
    {
        var points = batch.Count;
        var check = alerts is not null && log.Ledger.Needs(LedgerConsumer.Check, batch.Sequence);
        // The check reads the batch after the buffer owns it (and may have delivered it), so it holds a reference.
        if (check) batch.Retain();
        // False only when the daemon is stopping: the points are in the log, which delivers (and checks) them after
        // the next start, so the batch counts as accepted all the same.
        if (!buffer.EnqueueReserved(batch))
        {
            PointBatch.Return(batch);
            return;
        }
        bufferStats.AddReceived(points);
        if (!check) return;
        try
        {
            // Alert latency counts from here: the batch is durable and buffered. Set only while this reference is
            // held; the graph's stages never read it.
            batch.AcceptedAt = Stopwatch.GetTimestamp();
            // Not the source's token: the points are buffered, so their alerts must be derived too.
            await alerts!.CheckAsync(batch, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            batch.Release();
        }
    }

    private AdmissionVerdict Refuse(PointBatch batch, StageStats stats, RefusalReason reason, string dropReason, int rejected)
    {
        stats.AddDropped(dropReason, batch.Count);
        PointBatch.Return(batch);
        return AdmissionVerdict.Refuse(reason, rejected, settings.RetryAfter);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay: {Records} records queued so far, waiting for the buffer ({Depth} points) to drain")]
    private partial void LogReplayWaiting(long records, long depth);
}

/// <summary>A source registered with <see cref="WriteAdmission.Register"/>: what it offered, kept and lost.</summary>
public sealed class AdmissionSource(StageStats stats)
{
    /// <summary>Registers the stage of a source named <paramref name="name"/>, before the admission exists.</summary>
    internal static AdmissionSource Register(PipelineTelemetry telemetry, string name) => new(telemetry.Register(new StageStats(name, "source")));

    public string Name => Stats.Name;
    internal StageStats Stats { get; } = stats;
}

/// <summary>How long a batch waits for buffer room, and what a refused source is told to wait before resending.</summary>
public sealed record AdmissionSettings(TimeSpan FullWait, TimeSpan RetryAfter);
