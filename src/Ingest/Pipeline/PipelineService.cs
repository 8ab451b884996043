using Ingest.Sinks.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Pipeline;

/// <summary>
/// Starts the graph (alert states restored first, then sinks, then the transform runner) and stops it in the
/// other direction: once the web server has stopped taking writes, the buffer is closed, the runner drains it
/// and flushes the windows, the sinks deliver what is queued, and only at the host's shutdown deadline is
/// anything still in flight abandoned.
/// </summary>
public sealed partial class PipelineService(IngestGraph graph, AlertStateStore alerts, ILogger<PipelineService> logger) : IHostedService
{
    private readonly CancellationTokenSource _abort = new();
    private Task? _all;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await alerts.RestoreAsync(cancellationToken).ConfigureAwait(false);
        var raw = Task.Run(() => graph.RawSink.RunAsync(_abort.Token, _abort.Token));
        var derived = Task.Run(() => graph.DerivedSink.RunAsync(_abort.Token, _abort.Token));
        var alertSink = graph.AlertSink is { } sink ? Task.Run(() => sink.RunAsync(_abort.Token, _abort.Token)) : Task.CompletedTask;
        var runner = Task.Run(() => graph.Runner.RunAsync(_abort.Token));
        _all = Task.WhenAll(runner, raw, derived, alertSink);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_all is null) return;
        graph.Buffer.Complete();
        // The web server has stopped, so no request is left to check thresholds and queue alert events.
        graph.Alerts?.Queue.Complete();
        LogDraining(graph.Buffer.Depth);
        var finished = await Task.WhenAny(_all, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        if (finished != _all)
        {
            LogAborted(graph.Buffer.Depth);
            await _abort.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            await _all.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: delivering {Points} buffered points to InfluxDB")]
    private partial void LogDraining(long points);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shutdown deadline reached with {Points} points still buffered; they are lost (no write-ahead log yet)")]
    private partial void LogAborted(long points);
}
