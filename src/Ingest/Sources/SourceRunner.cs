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
///   → gather messages up to MaxBatchPoints (their lines) or BatchInterval
///   → decode them into one batch (bad items counted, the source goes on)
///   → WeightedBuffer(Sources:&lt;name&gt;:BufferCapacity batches, FullPolicy; drops counted)
///   → admission (one log record per batch), then each message's Ack
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
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changing = new(1, 1);
    private Akka.Streams.IMaterializer? _materializer;

    /// <summary>A source's graph while it runs: its settings, its kill switch, its end, and what cancels its waits.</summary>
    private sealed record Running(SourceOptions Options, SourceTelemetry Telemetry, UniqueKillSwitch Switch, Task Done, CancellationTokenSource Stop);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _materializer = system.Materializer(namePrefix: "sources");
        foreach (var source in options.Sources.Where(s => s.Enabled)) Start(source, null);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        List<Running> running;
        lock (_running) running = _running.Values.ToList();
        foreach (var r in running) r.Switch.Shutdown();
        // What a source had taken is admitted (or, at least once, left unacknowledged) before the pipeline drains.
        var all = Task.WhenAll(running.Select(r => r.Done));
        await Task.WhenAny(all, Task.Delay(StopWait, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies a reload's sources: each one named in <paramref name="changed"/> is stopped as at shutdown (what it had
    /// taken is admitted and acknowledged; an at-least-once upstream keeps the rest) and started again with its new
    /// settings, or not at all when it was removed or disabled. The other sources are not touched. Returns what was
    /// done to each, for the reload's report.
    /// </summary>
    public async Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<SourceOptions> sources, IReadOnlyCollection<string> changed, CancellationToken cancellationToken)
    {
        await _changing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var said = new List<string>();
            foreach (var name in changed.Order(StringComparer.Ordinal))
            {
                if (_stopping.IsCancellationRequested) break;
                Running? old;
                lock (_running) _running.Remove(name, out old);
                if (old is not null)
                {
                    old.Switch.Shutdown();
                    // Stuck waiting for room after StopWait: the wait is given up; an at-least-once upstream keeps what
                    // was not admitted. Either way whatever the connector still runs in the background ends here.
                    await Task.WhenAny(old.Done, Task.Delay(StopWait, cancellationToken)).ConfigureAwait(false);
                    old.Stop.Cancel();
                    await Task.WhenAny(old.Done, Task.Delay(StopWait, cancellationToken)).ConfigureAwait(false);
                    old.Stop.Dispose();
                }
                var next = sources.FirstOrDefault(s => s.Name == name && s.Enabled);
                if (next is null)
                {
                    if (old is null) continue;
                    instruments.Unregister(old.Telemetry);
                    said.Add($"Sources:{name} stopped");
                    continue;
                }
                Start(next, old?.Options.Type == next.Type ? old.Telemetry : null);
                said.Add(old is null ? $"Sources:{name} started" : $"Sources:{name} restarted");
                if (old is not null && old.Options.Type != next.Type) instruments.Unregister(old.Telemetry);
            }
            return said;
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>Starts <paramref name="source"/>'s graph, counting into <paramref name="telemetry"/> when it ran before under the same type.</summary>
    private void Start(SourceOptions source, SourceTelemetry? telemetry)
    {
        var type = SourceCatalog.Find(source.Type)!;
        var logger = loggers.CreateLogger("Ingest.Sources." + source.Name);
        telemetry ??= instruments.Register(new SourceTelemetry(source.Name, source.Type, logger));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var context = new SourceContext(source, telemetry, logger, options, stop.Token);
        var connector = type.Create(source, services);
        var stage = admission.Register(source.Name);
        var (killSwitch, done) = Build(source, connector, context, stage, stop.Token).Run(_materializer!);
        lock (_running) _running[source.Name] = new Running(source, telemetry, killSwitch, done, stop);
        _ = done.ContinueWith(t => LogEnded(source.Name, t.Exception?.GetBaseException().Message ?? "completed"),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        LogStarted(source.Name, source.Type, connector.Delivery);
    }

    private IRunnableGraph<(UniqueKillSwitch, Task)> Build(SourceOptions source, ISourceConnector connector, SourceContext context, AdmissionSource stage,
        CancellationToken stopping)
    {
        var telemetry = context.Telemetry;
        var decoder = PayloadDecoders.Create(source.Payload, source.Tags, parser);
        var (database, retentionPolicy) = options.Influx.TargetOf(source.Database, source.RetentionPolicy);
        var atLeastOnce = connector.Delivery == SourceDelivery.AtLeastOnce;
        var starts = 0;
        var buffer = new BufferHolder();

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
                    if (t.IsFaulted && !stopping.IsCancellationRequested)
                        telemetry.SetState(SourceState.BackingOff, t.Exception!.GetBaseException().Message);
                }, TaskContinuationOptions.ExecuteSynchronously);
                return NotUsed.Instance;
            });
        }, RestartSettings.Create(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), 0.2));

        return messages
            .ViaMaterialized(KillSwitches.Single<SourceMessage>(), Keep.Right)
            .GroupedWeightedWithin(source.MaxBatchPoints, int.MaxValue, source.BatchInterval, EstimatedPoints)
            .Select(group => Decode(decoder, group, telemetry))
            .ViaMaterialized(new WeightedBuffer<Gathered>(source.BufferCapacity, _ => 1, source.FullPolicy, (dropped, _) =>
            {
                telemetry.Drop("buffer_full", dropped.Batch.Count);
                stage.Stats.AddDropped("buffer_full", dropped.Batch.Count);
                PointBatch.Return(dropped.Batch);
            }), (killSwitch, control) =>
            {
                buffer.Control = control;
                return killSwitch;
            })
            .SelectAsync(1, async gathered =>
            {
                try
                {
                    return await AdmitAsync(gathered, decoder, database, retentionPolicy, atLeastOnce, telemetry, stage, stopping).ConfigureAwait(false);
                }
                finally
                {
                    // The batch has its outcome (admitted, refused for good, or given up at a stop): its room in the
                    // source's buffer is free again. Without this the buffer would count itself full after
                    // BufferCapacity batches and the source would stop (or drop everything).
                    buffer.Control!.Release(1);
                }
            })
            .ToMaterialized(Sink.Ignore<Done>(), Keep.Both)
            .MapMaterializedValue(m => (m.Item1, (Task)m.Item2));
    }

    /// <summary>
    /// About how many points a message holds, before it is decoded: its lines (a JSON message counts one). Messages
    /// are gathered by it, so that a batch stays near <c>MaxBatchPoints</c> whatever the messages' size.
    /// </summary>
    private static long EstimatedPoints(SourceMessage message) => Math.Max(1, message.Payload.Span.Count((byte)'\n'));

    /// <summary>The gathered messages decoded into one batch (the source's buffer holds such batches).</summary>
    private static Gathered Decode(IPayloadDecoder decoder, IEnumerable<SourceMessage> messages, SourceTelemetry telemetry)
    {
        var list = messages as IReadOnlyList<SourceMessage> ?? messages.ToList();
        var batch = PointBatch.Rent();
        var errors = 0;
        foreach (var message in list)
        {
            var before = batch.Count;
            var length = batch.ByteLength;
            DecodeResult result;
            try
            {
                result = decoder.Decode(message, batch);
            }
            catch (Exception e)
            {
                // A decoder must not throw for bad input; if one does, the message counts as one bad item and
                // whatever it had appended is taken back.
                batch.RemovePoints(Enumerable.Range(before, batch.Count - before).ToArray());
                batch.Truncate(length);
                result = new DecodeResult(0, 1, e.Message);
            }
            errors += result.Errors;
            telemetry.Message(result.Points, result.Errors, result.FirstError, message.Subject, message.Joined);
        }
        return new Gathered(batch, errors, list);
    }

    private async Task<Done> AdmitAsync(Gathered gathered, IPayloadDecoder decoder, string database, string retentionPolicy,
        bool atLeastOnce, SourceTelemetry telemetry, AdmissionSource stage, CancellationToken stopping)
    {
        var rejected = gathered.Errors;
        var batch = gathered.Batch;
        while (true)
        {
            batch.Database = database;
            batch.RetentionPolicy = retentionPolicy;
            var points = batch.Count;
            AdmissionVerdict verdict;
            try
            {
                verdict = await admission.AdmitAsync(batch, rejected, stage, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping while waiting for room: nothing of it was kept; an at-least-once upstream delivers it again.
                await NackAsync(gathered.Messages, TimeSpan.Zero).ConfigureAwait(false);
                return Done.Instance;
            }
            if (verdict.Outcome != AdmissionOutcome.Refused)
            {
                if (verdict.Schema.Refused) telemetry.Drop("schema", points);
                else if (verdict.Schema.Dropped is { Count: > 0 } schemaDropped) telemetry.Drop("schema", schemaDropped.Count);
                await AckAsync(gathered.Messages).ConfigureAwait(false);
                return Done.Instance;
            }
            if (!atLeastOnce || stopping.IsCancellationRequested)
            {
                if (!atLeastOnce) telemetry.Drop("refused", points);
                await NackAsync(gathered.Messages, verdict.RetryAfter).ConfigureAwait(false);
                return Done.Instance;
            }
            // At least once: nothing is acknowledged; wait as told and offer the same messages again. The batch went
            // back to the pool with the refusal, so they are decoded again (the decode errors are not counted twice).
            try
            {
                await Task.Delay(verdict.RetryAfter > MaxRefusedWait || verdict.RetryAfter <= TimeSpan.Zero ? MaxRefusedWait : verdict.RetryAfter, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await NackAsync(gathered.Messages, TimeSpan.Zero).ConfigureAwait(false);
                return Done.Instance;
            }
            batch = PointBatch.Rent();
            rejected = 0;
            foreach (var message in gathered.Messages) rejected += decoder.Decode(message, batch).Errors;
        }
    }

    private async Task AckAsync(IReadOnlyList<SourceMessage> messages)
    {
        foreach (var message in messages)
        {
            if (message.Ack is not { } ack) continue;
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

    private async Task NackAsync(IReadOnlyList<SourceMessage> messages, TimeSpan retryAfter)
    {
        foreach (var message in messages)
        {
            if (message.Nack is not { } nack) continue;
            try
            {
                await nack(retryAfter).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogAckFailed(e.Message);
            }
        }
    }

    /// <summary>The source buffer's control, known once the graph is materialized (before any element flows).</summary>
    private sealed class BufferHolder
    {
        public IWeightedBufferControl? Control;
    }

    /// <summary>Messages gathered and decoded into one batch, with their bad items, kept for their acks.</summary>
    private readonly record struct Gathered(PointBatch Batch, int Errors, IReadOnlyList<SourceMessage> Messages);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source} ({Type}, {Delivery}) started")]
    private partial void LogStarted(string source, string type, SourceDelivery delivery);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source} ended: {Reason}")]
    private partial void LogEnded(string source, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A source could not tell its upstream what became of a message (an admitted one will be delivered again): {Error}")]
    private partial void LogAckFailed(string error);
}
