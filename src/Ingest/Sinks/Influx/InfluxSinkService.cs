using Ingest.Buffering;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Hosts the <see cref="InfluxSink"/>. On stop (after the web server has stopped taking writes) it closes the
/// buffer and lets the sink deliver what is left until the host's shutdown timeout, and only then aborts.
/// </summary>
public sealed partial class InfluxSinkService(InfluxSink sink, IPointBuffer buffer, ILogger<InfluxSinkService> logger) : IHostedService
{
    private readonly CancellationTokenSource _abort = new();
    private Task? _run;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _run = Task.Run(() => sink.RunAsync(_abort.Token, _abort.Token));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_run is null) return;
        buffer.Complete();
        LogDraining(buffer.Depth);
        var finished = await Task.WhenAny(_run, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        if (finished != _run)
        {
            LogAborted(buffer.Depth);
            await _abort.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            await _run.ConfigureAwait(false);
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
