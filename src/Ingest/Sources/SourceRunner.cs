using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Ingest.Admission;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Sources.Decoding;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources;

/// <summary>
/// Runs every enabled configured source as its own Akka.Streams graph into the admission path:
/// <code>
/// connector (restarted with backoff when it fails)
///   → decode (a batch per message; bad items counted, the source goes on)
///   → WeightedBuffer(Sources:&lt;name&gt;:BufferCapacity messages, FullPolicy; drops counted)
///   → gather messages up to MaxBatchPoints or BatchInterval
///   → admission (one log record per gathered batch), then each message's Ack
/// </code>
/// A source that cannot connect holds only its own graph: the others and the HTTP writes never wait for it. An
/// at-least-once source acknowledges upstream only what admission accepted, waits and offers again what was
/// refused for want of room, and so backpressures its upstream; the others count what was refused as dropped.
/// Started after the pipeline and stopped before it, so that what a source took is drained with the rest.
/// </summary>
public sealed partial class SourceRunner(
    IngestOptions options,
    WriteAdmission admission,
    SourceInstruments instruments,
    LineProtocolParser parser,
    IServiceProvider services,
    Akka.Actor.ActorSystem system,
    ILoggerFactory loggers,
    ILogger<SourceRunner> logger) : IHostedService
{
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxRefusedWait = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(string Name, UniqueKillSwitch Switch, Task Done)> _running = new();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var materializer = system.Materializer(namePrefix: "sources");
        foreach (var source in options.Sources.Where(s => s.Enabled))
        {
            var type = SourceCatalog.Find(source.Type)!;
            var telemetry = instruments.Register(new SourceTelemetry(source.Name, source.Type, loggers.CreateLogger("Ingest.Sources." + source.Name)));
            var context = new SourceContext(source, telemetry, loggers.CreateLogger("Ingest.Sources." + source.Name), options, _stopping.Token);
            var connector = type.Create(source, services);
            var stage = admission.Register(source.Name);
            var (killSwitch, done) = Build(source, connector, context, stage).Run(materializer);
            _running.Add((source.Name, killSwitch, done));
            _ = done.ContinueWith(t => LogEnded(source.Name, t.Exception?.GetBaseException().Message ?? "completed"),
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            LogStarted(source.Name, source.Type, connector.Delivery);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        foreach (var (_, killSwitch, _) in _running) killSwitch.Shutdown();
        // What a source had taken is admitted (or, at least once, left unacknowledged) before the pipeline drains.
        var all = Task.WhenAll(_running.Select(r => r.Done));
        await Task.WhenAny(all, Task.Delay(StopWait, cancellationToken)).ConfigureAwait(false);
    }

    private IRunnableGraph<(UniqueKillSwitch, Task)> Build(SourceOptions source, ISourceConnector connector, SourceContext context, AdmissionSource stage)
    {
        var telemetry = context.Telemetry;
        var decoder = PayloadDecoders.Create(source.Payload, source.Tags, parser);
        var (database, retentionPolicy) = Target(source);
        var atLeastOnce = connector.Delivery == SourceDelivery.AtLeastOnce;
        var starts = 0;

        // A connector that fails (its upstream went away, say) is started again with backoff; each start after the
        // first is a reconnect.
        var messages = RestartSource.OnFailuresWithBackoff(() =>
        {
            if (Interlocked.Increment(ref starts) > 1) telemetry.Reconnected();
            telemetry.SetState(SourceState.Connecting);
            return connector.Messages(context).WatchTermination((_, ended) =>
            {
                ended.ContinueWith(t =>
                {
                    if (t.IsFaulted && !_stopping.IsCancellationRequested)
                        telemetry.SetState(SourceState.BackingOff, t.Exception!.GetBaseException().Message);
                }, TaskContinuationOptions.ExecuteSynchronously);
                return NotUsed.Instance;
            });
        }, RestartSettings.Create(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), 0.2));

        // The buffer's room is given back once a message is through admission (set at materialization, before
        // any message flows): without it the buffer fills after BufferCapacity messages and the source stops.
        var buffer = new BufferRoom();
        return messages
            .ViaMaterialized(KillSwitches.Single<SourceMessage>(), Keep.Right)
            .Select(message => Decode(decoder, message, telemetry))
            .ViaMaterialized(new WeightedBuffer<Decoded>(source.BufferCapacity, _ => 1, source.FullPolicy, (dropped, _) =>
            {
                telemetry.Drop("buffer_full", dropped.Batch.Count);
                stage.Stats.AddDropped("buffer_full", dropped.Batch.Count);
                PointBatch.Return(dropped.Batch);
            }), (killSwitch, control) =>
            {
                buffer.Control = control;
                return killSwitch;
            })
            .GroupedWeightedWithin(source.MaxBatchPoints, int.MaxValue, source.BatchInterval, d => Math.Max(1, d.Batch.Count))
            .SelectAsync(1, async group =>
            {
                var count = group.Count();
                try
                {
                    return await AdmitAsync(group, decoder, database, retentionPolicy, atLeastOnce, telemetry, stage).ConfigureAwait(false);
                }
                finally
                {
                    buffer.Control?.Release(count);
                }
            })
            .ToMaterialized(Sink.Ignore<Done>(), Keep.Both)
            .MapMaterializedValue(m => (m.Item1, (Task)m.Item2));
    }

    private (string Database, string RetentionPolicy) Target(SourceOptions source)
    {
        var influx = options.Influx;
        var db = source.Database.Length > 0 ? source.Database : influx.DefaultTarget;
        var rp = source.RetentionPolicy;
        return influx.ApiVersion == 2 ? (rp.Length > 0 ? $"{db}/{rp}" : db, "") : (db, rp);
    }

    private static Decoded Decode(IPayloadDecoder decoder, SourceMessage message, SourceTelemetry telemetry)
    {
        var batch = PointBatch.Rent();
        DecodeResult result;
        try
        {
            result = decoder.Decode(message, batch);
        }
        catch (Exception e)
        {
            // A decoder must not throw for bad input; if one does, the message counts as one bad item.
            batch.Clear();
            result = new DecodeResult(0, 1, e.Message);
        }
        telemetry.Message(result.Points, result.Errors, result.FirstError, message.Subject);
        return new Decoded(batch, result.Errors, message);
    }

    private async Task<Done> AdmitAsync(IEnumerable<Decoded> messages, IPayloadDecoder decoder, string database, string retentionPolicy,
        bool atLeastOnce, SourceTelemetry telemetry, AdmissionSource stage)
    {
        var group = messages as IList<Decoded> ?? messages.ToList();
        var rejected = group.Sum(d => d.Errors);
        var batch = Gather(group);
        while (true)
        {
            batch.Database = database;
            batch.RetentionPolicy = retentionPolicy;
            var points = batch.Count;
            AdmissionVerdict verdict;
            try
            {
                verdict = await admission.AdmitAsync(batch, rejected, stage, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping while waiting for room: nothing of it was kept; an at-least-once upstream delivers it again.
                return Done.Instance;
            }
            if (verdict.Outcome != AdmissionOutcome.Refused)
            {
                if (verdict.Schema.Refused) telemetry.Drop("schema", points);
                else if (verdict.Schema.Dropped is { Count: > 0 } schemaDropped) telemetry.Drop("schema", schemaDropped.Count);
                await AckAsync(group).ConfigureAwait(false);
                return Done.Instance;
            }
            if (!atLeastOnce || _stopping.IsCancellationRequested)
            {
                telemetry.Drop("refused", points);
                return Done.Instance;
            }
            // At least once: nothing is acknowledged; wait as told and offer the same messages again. The batch went
            // back to the pool with the refusal, so they are decoded again (the decode errors are not counted twice).
            try
            {
                await Task.Delay(verdict.RetryAfter > MaxRefusedWait || verdict.RetryAfter <= TimeSpan.Zero ? MaxRefusedWait : verdict.RetryAfter, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return Done.Instance;
            }
            batch = PointBatch.Rent();
            rejected = 0;
            foreach (var d in group) rejected += decoder.Decode(d.Message, batch).Errors;
        }
    }

    /// <summary>The group's points as one batch: the first message's own batch when it is alone.</summary>
    private static PointBatch Gather(IList<Decoded> group)
    {
        if (group.Count == 1) return group[0].Batch;
        var batch = PointBatch.Rent();
        foreach (var d in group)
        {
            for (int i = 0; i < d.Batch.Count; i++) batch.CopyPointFrom(d.Batch, i);
            PointBatch.Return(d.Batch);
        }
        return batch;
    }

    private async Task AckAsync(IList<Decoded> group)
    {
        foreach (var d in group)
        {
            if (d.Message.Ack is not { } ack) continue;
            try
            {
                await ack().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The points are admitted: an ack that fails means the upstream delivers them again (stored twice,
                // which InfluxDB collapses into one).
                LogAckFailed(e.Message);
            }
        }
    }

    private readonly record struct Decoded(PointBatch Batch, int Errors, SourceMessage Message);

    private sealed class BufferRoom
    {
        public volatile IWeightedBufferControl? Control;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source} ({Type}, {Delivery}) started")]
    private partial void LogStarted(string source, string type, SourceDelivery delivery);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source} ended: {Reason}")]
    private partial void LogEnded(string source, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A source could not acknowledge admitted messages upstream (they will be delivered again): {Error}")]
    private partial void LogAckFailed(string error);
}
