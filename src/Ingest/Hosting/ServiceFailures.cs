namespace Ingest.Hosting;

/// <summary>
/// Stops the daemon when one of its background services fails, and remembers it so that the process exits
/// non-zero: a supervisor (systemd) must see a failure, not a clean stop it will not restart.
/// </summary>
/// <remarks>
/// The host runs with <see cref="BackgroundServiceExceptionBehavior.Ignore"/> and this stops it instead: the host
/// logs the exception once ("BackgroundService failed"), where stopping the host itself would log it a second time.
/// </remarks>
public sealed partial class ServiceFailures(IHostApplicationLifetime lifetime, ILogger<ServiceFailures> logger)
{
    /// <summary>The exit code of a daemon stopped by a failure (configuration errors exit with 2).</summary>
    public const int ExitCode = 1;

    private int _failed;

    public bool Failed => Volatile.Read(ref _failed) != 0;

    /// <summary>Watches the background services the host has started.</summary>
    public void Watch(IEnumerable<IHostedService> services)
    {
        foreach (var service in services.OfType<BackgroundService>())
        {
            service.ExecuteTask?.ContinueWith(t => Fail(service.GetType().Name, t.Exception!.GetBaseException()),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Watches a part that must run until the daemon stops (the stream graph and its sinks): if
    /// <paramref name="running"/> ends while <paramref name="stopping"/> is still false, failed or not, the daemon
    /// stops with the failure exit code, and what the part had not delivered stays in the write-ahead log for the
    /// restart to replay. The task returned completes once the part's end has been judged.
    /// </summary>
    public Task Watch(string part, Task running, Func<bool> stopping) =>
        running.ContinueWith(t =>
        {
            if (stopping()) return;
            Fail(part, t.Exception?.GetBaseException() ?? new InvalidOperationException(t.IsCanceled ? "cancelled" : "ended before the daemon stopped"));
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    private void Fail(string service, Exception exception)
    {
        if (Interlocked.Exchange(ref _failed, 1) == 0) LogStopping(service, exception.Message, ExitCode);
        lifetime.StopApplication();
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Service} failed ({Reason}); stopping the daemon, exit code {ExitCode}")]
    private partial void LogStopping(string service, string reason, int exitCode);
}
