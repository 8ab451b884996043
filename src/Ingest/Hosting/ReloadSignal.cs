using System.Runtime.InteropServices;

namespace Ingest.Hosting;

/// <summary>
/// SIGHUP (<c>systemctl reload ingest</c>, the unit's <c>ExecReload</c>) would end a .NET process by default.
/// Reloading the configuration is not implemented yet, so the signal is acknowledged in the log and the daemon
/// carries on with the settings it started with.
/// </summary>
public sealed partial class ReloadSignal(ILogger<ReloadSignal> logger) : IHostedService, IDisposable
{
    private PosixSignalRegistration? _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                LogReloadNotSupported();
            });
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "SIGHUP received: reloading the configuration is not supported yet; the daemon keeps running with the settings it started with")]
    private partial void LogReloadNotSupported();
}
