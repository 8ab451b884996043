using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ingest.IntegrationTests.Servers;

/// <summary>Thrown when a real server cannot be found, started or reached.</summary>
public sealed class ServerHarnessException : Exception
{
    public ServerHarnessException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// One child server process: log capture, graceful stop (SIGTERM), kill, and cleanup safety nets.
/// </summary>
internal sealed class ServerProcess
{
    private const int LogCapacity = 400;
    private static readonly ConcurrentDictionary<int, Process> Live = new();

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log;

    static ServerProcess()
    {
        // Safety net for a test run that ends without disposing its fixtures: no server outlives the test host.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var p in Live.Values)
            {
                try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch { }
            }
        };
    }

    private ServerProcess(Process process, ConcurrentQueue<string> log)
    {
        _process = process;
        _log = log;
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>After an exit: waits until the last output lines are in the log, so a tail shows why it died.</summary>
    public void DrainOutput()
    {
        if (_process.HasExited) _process.WaitForExit();
    }

    public static ServerProcess Start(string fileName, IEnumerable<string> args, string workingDirectory,
        ConcurrentQueue<string> log, string? environmentPrefixToClear = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // A pipe of its own, so a server never reads from or holds on to the test host's stdin.
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environmentPrefixToClear is not null)
        {
            // influxd lets INFLUXDB_* variables override the config file; an inherited one must not redirect a test server.
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith(environmentPrefixToClear, StringComparison.Ordinal)).ToList())
                psi.Environment.Remove(key);
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        DataReceivedEventHandler sink = (sender, e) =>
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            while (log.Count > LogCapacity && log.TryDequeue(out _)) { }
        };
        process.OutputDataReceived += sink;
        process.ErrorDataReceived += sink;
        try
        {
            process.Start();
        }
        catch (Exception ex)
        {
            throw new ServerHarnessException($"Could not start {fileName}: {ex.Message}", ex);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Live[process.Id] = process;

        return new ServerProcess(process, log);
    }

    /// <summary>SIGTERM, then SIGKILL if the process has not exited within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            if (kill(_process.Id, SigTerm) != 0 && !_process.HasExited)
                _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(grace);
            try
            {
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await KillAsync().ConfigureAwait(false);
                return;
            }
        }
        Forget();
    }

    public async Task KillAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        Forget();
    }

    private void Forget()
    {
        Live.TryRemove(_process.Id, out _);
        _process.Dispose();
    }

    public static string Tail(ConcurrentQueue<string> log, int lines)
    {
        var all = log.ToArray();
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Full path of <paramref name="name"/> on PATH, or a clear error naming the Debian packages.</summary>
    public static string FindExecutable(string name, string debianPackages)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                     .Concat(new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin" }))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new ServerHarnessException(
            $"'{name}' was not found on PATH. Install the Debian package(s): apt-get install -y {debianPackages} " +
            "(./run.sh test installs them when run as root).");
    }

    private const int SigTerm = 15;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
