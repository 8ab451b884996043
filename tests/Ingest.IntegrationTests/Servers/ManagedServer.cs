using System.Collections.Concurrent;
using System.Diagnostics;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// Lifecycle shared by the private test servers: one child process at a time in a temp folder of its own,
/// started, stopped, killed and started again on the same ports. A subclass says how to launch its server,
/// how to tell that it is ready and how to move to new ports.
/// </summary>
public abstract class ManagedServer : IAsyncDisposable
{
    private readonly string _name;
    private readonly string _addressInUse;
    private readonly TimeSpan _stopGrace;
    private readonly ConcurrentQueue<string> _log = new();
    // Tests stop and start servers while other tasks still use them; one lifecycle step at a time.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServerProcess? _process;
    private bool _everStarted;
    private bool _disposed;

    /// <param name="executable">Looked up on PATH; also names the server in error messages.</param>
    /// <param name="addressInUse">How the server's log says a port was taken, which earns a retry on new ports.</param>
    /// <param name="stopGrace">How long <see cref="StopAsync"/> waits after SIGTERM before it kills.</param>
    private protected ManagedServer(string executable, string debianPackages, string folderPrefix, string addressInUse, TimeSpan stopGrace)
    {
        _name = executable;
        Executable = ServerProcess.FindExecutable(executable, debianPackages);
        Folder = Directory.CreateTempSubdirectory(folderPrefix).FullName;
        _addressInUse = addressInUse;
        _stopGrace = stopGrace;
    }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Last lines of the server's output (stdout and stderr).</summary>
    public string LogTail(int lines = 40) => ServerProcess.Tail(_log, lines);

    /// <summary>Full path of the server binary.</summary>
    private protected string Executable { get; }

    /// <summary>Temp folder the server runs in and keeps its files in; deleted by <see cref="DisposeAsync"/>.</summary>
    private protected string Folder { get; }

    /// <summary>Starts the server (again) on its current ports and waits until it is ready.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (IsRunning) return;

            // Another process may grab a port between FreePort and the server's bind; only the very first start
            // may move to new ports, a restart must come back where clients expect it.
            var attempts = _everStarted ? 1 : 3;
            for (var attempt = 1; ; attempt++)
            {
                _process = Launch();
                try
                {
                    await WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
                    _everStarted = true;
                    return;
                }
                catch (ServerHarnessException) when (attempt < attempts && LogTail(20).Contains(_addressInUse))
                {
                    await KillCoreAsync().ConfigureAwait(false);
                    MoveToNewPorts();
                }
                catch
                {
                    await KillCoreAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Graceful stop (SIGTERM, SIGKILL after the grace period); the temp folder stays.</summary>
    public async Task StopAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_process is null) return;
            await _process.StopAsync(_stopGrace).ConfigureAwait(false);
            _process = null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>SIGKILL, as in a crash; the temp folder stays.</summary>
    public async Task KillAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try { await KillCoreAsync().ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await KillAsync().ConfigureAwait(false);
        _disposed = true;
        DisposeClients();
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Starts <paramref name="server"/>, or disposes it and rethrows when it does not come up.</summary>
    private protected static async Task<T> StartedAsync<T>(T server, CancellationToken cancellationToken) where T : ManagedServer
    {
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the process on the current ports, its output going to <see cref="LogTail"/>.</summary>
    private protected abstract ServerProcess Launch();

    /// <summary>Returns once the server serves requests; throws <see cref="ServerHarnessException"/> when it will not.</summary>
    private protected abstract Task WaitUntilReadyAsync(CancellationToken cancellationToken);

    /// <summary>Picks new free ports after the current ones turned out to be taken.</summary>
    private protected abstract void MoveToNewPorts();

    /// <summary>Releases what the subclass holds besides the process and the temp folder.</summary>
    private protected virtual void DisposeClients() { }

    private protected ServerProcess StartProcess(IEnumerable<string> args, string? environmentPrefixToClear = null) =>
        ServerProcess.Start(Executable, args, Folder, _log, environmentPrefixToClear);

    /// <summary>Starts <paramref name="fileName"/> in the server's place, for a server launched through a wrapper (another user).</summary>
    private protected ServerProcess StartProcessThrough(string fileName, IEnumerable<string> args) =>
        ServerProcess.Start(fileName, args, Folder, _log);

    /// <summary>
    /// Asks <paramref name="isReady"/> every 50 ms until it says yes; fails at once if the process exits meanwhile,
    /// and after <paramref name="timeout"/> with "<paramref name="missedAnswer"/> within …".
    /// </summary>
    /// <param name="exitDetail">Appended to the "exited during startup" message, e.g. where the config is.</param>
    private protected async Task PollUntilReadyAsync(Func<CancellationToken, Task<bool>> isReady, TimeSpan timeout,
        string missedAnswer, string exitDetail, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process is null || _process.HasExited)
            {
                _process?.DrainOutput();
                throw new ServerHarnessException(
                    $"{_name} exited during startup (exit code {_process?.ExitCode}).{exitDetail} Log tail:\n{LogTail()}");
            }
            if (await isReady(cancellationToken).ConfigureAwait(false)) return;

            if (sw.Elapsed > timeout)
                throw new ServerHarnessException($"{missedAnswer} within {timeout.TotalSeconds:0}s. Log tail:\n{LogTail()}");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task KillCoreAsync()
    {
        if (_process is null) return;
        await _process.KillAsync().ConfigureAwait(false);
        _process = null;
    }
}
