using Akka.Streams;
using Ingest.Durability;
using Ingest.Hosting;
using Ingest.Sinks.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Graph;

/// <summary>
/// Starts the graph (alert states restored first, then the stream graph and its sinks materialized, then the
/// downsampling windows' snapshot restored and the write-ahead log's undelivered records replayed through the
/// admission, all before the web server takes writes) and stops it in the other direction: once the web server has
/// stopped taking writes, the buffer is closed, the stream graph drains it, the sinks deliver what is queued, a last
/// snapshot of the windows is saved, and only at the host's shutdown deadline is the graph cut and anything still
/// in flight abandoned (to the log, when there is one).
/// </summary>
public sealed partial class PipelineService(IngestGraph graph, AlertStateStore alerts, Akka.Actor.ActorSystem system, ServiceFailures failures,
    IHostApplicationLifetime lifetime, ILogger<PipelineService> logger) : IHostedService
{
    private readonly CancellationTokenSource _abort = new();
    private readonly CancellationTokenSource _stopCheckpoints = new();
    private Task? _all;
    private Task? _checkpoints;
    private Task? _snapshots;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await alerts.RestoreAsync(cancellationToken).ConfigureAwait(false);
        _all = graph.Start(system.Materializer(namePrefix: "ingest"), _abort.Token, system.WhenTerminated);
        // The graph and its sinks run until the stop; one that fails or ends before it stops the daemon, which a
        // supervisor then restarts, replaying the log. Within a stage, errors are counted and the stage goes on.
        // The host signals its stop before it stops any service; from then on parts may end in any order (the actor
        // system's own service included).
        // Each part on its own: one that fails must not wait for the others to end before it is seen.
        foreach (var (name, running) in graph.Parts)
            _ = failures.Watch(name, running, () => lifetime.ApplicationStopping.IsCancellationRequested);
        if (graph.Log.Enabled)
        {
            await ReplayAsync(cancellationToken).ConfigureAwait(false);
            _checkpoints = Task.Run(() => Periodic.RunAsync(graph.Options.Wal.CheckpointInterval, Checkpoint, _stopCheckpoints.Token));
            if (graph.WindowCheckpoints is { } windows)
                _snapshots = Task.Run(() => Periodic.RunAsync(graph.Options.WindowSnapshots.Interval,
                    () => windows.TakeAsync(final: false, _stopCheckpoints.Token), _stopCheckpoints.Token));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_all is null) return;
        // A paused graph drains too: its valve is opened first, since a closed valve would end without what it holds.
        // (Not waited for past the graph's own end: a stage that has stopped answers no question.)
        if (graph.Paused && graph.Stream is { } stream)
            await Task.WhenAny(stream.ResumeAsync(), stream.Completion).WaitAsync(cancellationToken).ConfigureAwait(false);
        graph.Buffer.Complete();
        // The web server has stopped, so no request is left to check thresholds and queue alert events.
        graph.Alerts?.Queue.Complete();
        LogDraining(graph.Buffer.Depth);
        var finished = await Task.WhenAny(_all, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        if (finished != _all)
        {
            if (graph.Log.Enabled) LogAbortedToLog(graph.Buffer.Depth);
            else LogAborted(graph.Buffer.Depth);
            await _abort.CancelAsync().ConfigureAwait(false);
            graph.Stream?.Abort();
        }
        try
        {
            await _all.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _stopCheckpoints.CancelAsync().ConfigureAwait(false);
        if (_checkpoints is not null) await _checkpoints.ConfigureAwait(false);
        if (_snapshots is not null)
        {
            try
            {
                // A snapshot blocked on a hung disk must not hold the stop: the log still has everything it would hold.
                await _snapshots.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        // The runner has stopped: a last snapshot holds everything it took, so the next start replays nothing for the
        // windows. Only when every window written so far was delivered; else the last snapshot and the log serve.
        if (graph.WindowCheckpoints is { } windows && !cancellationToken.IsCancellationRequested)
            await windows.TakeAsync(final: true, cancellationToken).ConfigureAwait(false);
        Checkpoint();
        graph.Log.Flush();
    }

    /// <summary>
    /// Feeds the records some consumer had not finished back through the graph, oldest first: the windows'
    /// clocks are restored, then each batch goes through the admission as if just written, minus the append.
    /// </summary>
    private async Task ReplayAsync(CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // The windows' snapshot first: the replay then only takes the records after it through the tiers.
        var windows = graph.WindowCheckpoints?.Restore();
        var (batches, saved) = graph.Log.ReadReplay(windows);
        if (saved is not null && graph.Downsample is { } downsample)
            graph.Runner.RunExclusive(() =>
            {
                downsample.Engine.RestoreClocks(saved.Clocks, saved.Sequence);
                return 0;
            });
        long records = 0, points = 0;
        foreach (var batch in batches)
        {
            records++;
            points += batch.Count;
            await graph.Admission.ReplayAsync(batch, records, cancellationToken).ConfigureAwait(false);
        }
        if (records > 0)
            LogReplayed(records, points, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds,
                graph.Log.ReplayRawDoneThrough, graph.Log.ReplayTransformsFrom);
    }

    private void Checkpoint()
    {
        graph.Log.CheckpointRaw();
        if (graph.Runner.TrackProcessed)
        {
            // The records the windows' next snapshot need not list: everything up to the transforms' checkpoint.
            var through = graph.Log.Ledger.Checkpoint(LedgerConsumer.Transforms);
            graph.Runner.RunExclusive(() =>
            {
                graph.Runner.ForgetProcessedThrough(through);
                return 0;
            });
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: delivering {Points} buffered points to InfluxDB")]
    private partial void LogDraining(long points);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shutdown deadline reached with {Points} points still buffered; they are lost (the write-ahead log is off)")]
    private partial void LogAborted(long points);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown deadline reached with {Points} points still buffered; they stay in the write-ahead log and are delivered after the next start")]
    private partial void LogAbortedToLog(long points);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replayed {Records} write-ahead log records ({Points} points) in {Seconds:F1} s (raw delivered through {RawDone}, windows rebuilt from {TransformsFrom})")]
    private partial void LogReplayed(long records, long points, double seconds, long rawDone, long transformsFrom);
}
