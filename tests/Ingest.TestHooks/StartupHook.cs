using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

/// <summary>
/// A .NET startup hook (<c>DOTNET_STARTUP_HOOKS</c>) that gives the real daemon, started as a process, a fault no
/// real server or configuration can produce. <c>INGESTTEST_FAULT</c> picks it:
/// <list type="bullet">
/// <item><c>background-service</c>: a background service that throws once the daemon has started;</item>
/// <item><c>listen-any:PORT</c>: Kestrel listens on every interface at PORT, set in code where no configuration key
/// shows it, so that only a check of the addresses actually bound can see it.</item>
/// </list>
/// With <c>INGESTTEST_HOLD=PATH</c> as well, the host's start is held after the server has bound, until PATH
/// exists: the window between binding and the daemon's check of the bound addresses, kept open for a test to probe.
/// It reaches the daemon's services through the diagnostic event the host raises while it is being built.
/// </summary>
internal static class StartupHook
{
    public const string Variable = "INGESTTEST_FAULT";

    public static void Initialize()
    {
        var fault = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(fault)) return;
        DiagnosticListener.AllListeners.Subscribe(new Observer<DiagnosticListener>(listener =>
        {
            if (listener.Name != "Microsoft.Extensions.Hosting") return;
            listener.Subscribe(new Observer<KeyValuePair<string, object?>>(e =>
            {
                // The payload is the host builder seen as an IHostBuilder; services added now are in the host built next.
                if (e.Key == "HostBuilding" && e.Value is IHostBuilder builder) builder.ConfigureServices(services => Inject(services, fault));
            }));
        }));
    }

    private static void Inject(IServiceCollection services, string fault)
    {
        if (fault == "background-service")
            services.AddHostedService<FailingService>();
        else if (fault.StartsWith("listen-any:", StringComparison.Ordinal))
            services.Configure<KestrelServerOptions>(o => o.Listen(IPAddress.Any, int.Parse(fault["listen-any:".Length..])));
        else
            throw new InvalidOperationException($"{Variable}={fault}: unknown fault");
        if (Environment.GetEnvironmentVariable("INGESTTEST_HOLD") is { Length: > 0 } hold)
            services.AddSingleton<IHostedService>(new Hold(hold));
    }

    /// <summary>Started after every other service, the server included: holds the start until the file exists.</summary>
    private sealed class Hold(string path) : IHostedLifecycleService
    {
        public async Task StartedAsync(CancellationToken cancellationToken)
        {
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!File.Exists(path) && DateTime.UtcNow < until) await Task.Delay(20, cancellationToken);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class FailingService(IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            // Fails once the daemon runs, as a service that loses something it depends on would.
            var started = new TaskCompletionSource();
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult())) await started.Task.WaitAsync(stoppingToken);
            throw new InvalidOperationException("injected failure of a background service");
        }
    }

    private sealed class Observer<T>(Action<T> next) : IObserver<T>
    {
        public void OnNext(T value) => next(value);
        public void OnError(Exception error) { }
        public void OnCompleted() { }
    }
}
