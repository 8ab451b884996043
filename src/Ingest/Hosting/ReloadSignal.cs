using System.Runtime.InteropServices;

namespace Ingest.Hosting;

/// <summary>
/// SIGHUP (<c>systemctl reload ingest</c>, the unit's <c>ExecReload</c>) reloads the configuration
/// (<see cref="Reload.ConfigReloader"/>); left to .NET it would end the process. A signal that comes while the daemon
/// is still starting (the log's replay) is kept and served once it has started; signals that come during a reload
/// make one more reload after it, not one each.
/// </summary>
public sealed partial class ReloadSignal(IServiceProvider services, IHostApplicationLifetime lifetime, ILogger<ReloadSignal> logger) : IHostedService, IDisposable
{
    private PosixSignalRegistration? _registration;
    private int _pending;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                // 0 → 1 starts a run; a signal during a run (already 1 or 2) asks for one more.
                if (Interlocked.Exchange(ref _pending, 2) == 0) _ = Task.Run(RunAsync);
            });
        }
        return Task.CompletedTask;
    }

    private async Task RunAsync()
    {
        try
        {
            if (!lifetime.ApplicationStarted.IsCancellationRequested)
            {
                LogDeferred();
                var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
                using (lifetime.ApplicationStopping.Register(() => started.TrySetCanceled()))
                    await started.Task.ConfigureAwait(false);
            }
            if (services.GetService<Reload.ConfigReloader>() is not { } reloader)
            {
                LogNotSupported();
                Volatile.Write(ref _pending, 0);
                return;
            }
            do
            {
                Volatile.Write(ref _pending, 1);
                await reloader.ReloadAsync("signal", lifetime.ApplicationStopping).ConfigureAwait(false);
            }
            // Another signal came during the reload (2): reload again. Otherwise 1 → 0 ends the run.
            while (Interlocked.CompareExchange(ref _pending, 0, 1) != 1 && !lifetime.ApplicationStopping.IsCancellationRequested);
        }
        catch (OperationCanceledException)
        {
            Volatile.Write(ref _pending, 0);
        }
        catch (Exception e)
        {
            // The reloader reports a bad configuration itself; anything else is a bug, which must not end the daemon
            // nor leave later signals unanswered.
            LogFailed(e);
            Volatile.Write(ref _pending, 0);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "SIGHUP received while starting: the configuration is reloaded once the daemon has started")]
    private partial void LogDeferred();

    [LoggerMessage(Level = LogLevel.Error, Message = "SIGHUP: the reload failed")]
    private partial void LogFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SIGHUP received, but this host cannot reload its configuration; it keeps the settings it started with")]
    private partial void LogNotSupported();
}
