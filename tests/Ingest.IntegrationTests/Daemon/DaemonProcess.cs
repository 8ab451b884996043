using System.Diagnostics;
using System.Net;
using System.Text;

namespace Ingest.IntegrationTests.Daemon;

/// <summary>
/// The real daemon, started as an operator would (<c>dotnet Ingest.dll --config … --urls …</c>) on a free
/// loopback port, with settings passed as command-line overrides. Output is kept for failure messages.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Dictionary<string, string> _settings;
    private readonly string _configFile;
    private Process? _process;

    private DaemonProcess(Dictionary<string, string> settings, int port, string configJson)
    {
        _settings = settings;
        Port = port;
        _configFile = Path.Combine(Path.GetTempPath(), $"ingest-test-{Guid.NewGuid():N}.json");
        File.WriteAllText(_configFile, configJson);
        // Each daemon has its own write-ahead log, kept across StartAgainAsync as a restarted service keeps its.
        if (!_settings.ContainsKey("Wal:Directory"))
        {
            _ownsWal = true;
            _settings["Wal:Directory"] = Path.Combine(Path.GetTempPath(), $"ingest-test-wal-{Guid.NewGuid():N}");
        }
        WalDirectory = _settings["Wal:Directory"];
        if (!_settings.ContainsKey("DeadLetter:Directory"))
        {
            _ownsDeadLetter = true;
            _settings["DeadLetter:Directory"] = Path.Combine(Path.GetTempPath(), $"ingest-test-dl-{Guid.NewGuid():N}");
        }
        DeadLetterDirectory = _settings["DeadLetter:Directory"];
        Client = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(30) };
    }

    private readonly bool _ownsWal;
    private readonly bool _ownsDeadLetter;

    /// <summary>The daemon's dead-letter directory, private to it unless the test named one.</summary>
    public string DeadLetterDirectory { get; }

    /// <summary>The daemon's write-ahead log directory.</summary>
    public string WalDirectory { get; }

    public int Port { get; }

    /// <summary>The daemon's <c>--config</c> file, which a reload reads again.</summary>
    public string ConfigFile => _configFile;

    /// <summary>Replaces the configuration file's content (for a reload, or the next start).</summary>
    public void WriteConfig(string json) => File.WriteAllText(_configFile, json);

    public Uri Url => new($"http://127.0.0.1:{Port}/");
    public HttpClient Client { get; }
    public string Output { get { lock (_output) return _output.ToString(); } }
    public bool HasExited => _process?.HasExited ?? true;

    /// <summary>
    /// Starts the daemon and waits until <c>/health</c> answers. Its <c>--config</c> file holds
    /// <paramref name="configJson"/> (no section at all unless given); <paramref name="settings"/> come on the command line.
    /// </summary>
    public static async Task<DaemonProcess> StartAsync(IDictionary<string, string> settings, string configJson = "{}")
    {
        var daemon = new DaemonProcess(new Dictionary<string, string>(settings), FreeLoopbackPort(), configJson);
        await daemon.StartAgainAsync();
        return daemon;
    }

    /// <summary>Runs the daemon with <paramref name="args"/> until it exits, for start-up failure tests.</summary>
    public static Task<(int ExitCode, string Output)> RunToExitAsync(params string[] args) =>
        RunToExitAsync(new Dictionary<string, string>(), null, args);

    /// <summary>
    /// Runs the daemon with <paramref name="args"/> and <paramref name="environment"/> until it exits (at most 30 s);
    /// <paramref name="whileRunning"/>, when given, runs as soon as the process has started.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(IReadOnlyDictionary<string, string> environment, Func<Task>? whileRunning, params string[] args)
    {
        var wal = Path.Combine(Path.GetTempPath(), $"ingest-test-wal-{Guid.NewGuid():N}");
        var deadLetter = Path.Combine(Path.GetTempPath(), $"ingest-test-dl-{Guid.NewGuid():N}");
        if (args is not ["hash-token", ..] && !args.Any(a => a.StartsWith("--Wal:", StringComparison.Ordinal))) args = [.. args, $"--Wal:Directory={wal}"];
        if (args is not ["hash-token", ..] && !args.Any(a => a.StartsWith("--DeadLetter:", StringComparison.Ordinal))) args = [.. args, $"--DeadLetter:Directory={deadLetter}"];
        var psi = StartInfo(args);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            if (whileRunning is not null) await whileRunning();
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("daemon did not exit: " + await stdout + await stderr);
        }
        catch
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        if (Directory.Exists(wal)) Directory.Delete(wal, recursive: true);
        if (Directory.Exists(deadLetter)) Directory.Delete(deadLetter, recursive: true);
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// Environment variables for the next start on top of the test's own (a null value removes one), such as
    /// NOTIFY_SOCKET for the systemd tests.
    /// </summary>
    public Dictionary<string, string?> Environment { get; } = new();

    /// <summary>
    /// A /bin/sh script that starts the daemon with <c>exec "$@"</c> (same process, same output pipes), for what
    /// must be set up from inside the daemon's own process, such as JOURNAL_STREAM naming its stdout.
    /// </summary>
    public string? LaunchScript { get; set; }

    /// <summary>
    /// A <see cref="LaunchScript"/> that puts SIGHUP back to its default before the daemon starts: a test run started
    /// under nohup has it ignored, that is inherited, and .NET leaves an ignored signal ignored (as a daemon run under
    /// nohup should), so a test of SIGHUP would only see that. systemd starts its services with the default.
    /// </summary>
    public const string DefaultSighup =
        "exec python3 -c 'import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \"$@\"";

    /// <summary>Changes one setting (a <c>--key=value</c> override) for the next start.</summary>
    public void Set(string key, string value) => _settings[key] = value;

    /// <summary>The process id of the running daemon.</summary>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("the daemon was not started");

    public async Task StartAgainAsync()
    {
        Launch();
        await WaitForHealthAsync();
    }

    /// <summary>Starts the daemon process without waiting for it to answer.</summary>
    public void Launch()
    {
        var args = new List<string> { "--config", _configFile, "--urls", $"http://127.0.0.1:{Port}" };
        foreach (var (k, v) in _settings) args.Add($"--{k}={v}");
        var psi = StartInfo(args.ToArray());
        if (LaunchScript is not null)
        {
            var original = psi.ArgumentList.ToList();
            psi.ArgumentList.Clear();
            foreach (var a in (string[])["-c", LaunchScript, "sh", psi.FileName, .. original]) psi.ArgumentList.Add(a);
            psi.FileName = "/bin/sh";
        }
        foreach (var (k, v) in Environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Waits up to <paramref name="seconds"/> for <c>/health</c> to answer 200.</summary>
    public async Task WaitForHealthAsync(int seconds = 30)
    {
        if (_process is null) throw new InvalidOperationException("the daemon was not started");
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < until)
        {
            if (_process.HasExited) throw new InvalidOperationException($"daemon exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var r = await Client.GetAsync("health");
                if (r.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"daemon did not answer /health within {seconds} s:\n" + Output);
    }

    /// <summary>
    /// The value of one sample on <c>/metrics</c>, named with its labels as exported
    /// (<c>ingest_points_accepted_total{endpoint="/write"}</c>); 0 when it is not there (yet).
    /// </summary>
    public async Task<double> MetricAsync(string sample)
    {
        var text = await Client.GetStringAsync("metrics");
        var prefix = sample + " ";
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Stops the daemon gracefully (SIGTERM) and waits for it to exit.</summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (_process is null || _process.HasExited) return;
        Posix.Terminate(_process.Id);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(40));
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Sends SIGHUP, as <c>systemctl reload</c> does through the unit's ExecReload.</summary>
    public void Hangup()
    {
        if (_process is { HasExited: false }) Posix.Hangup(_process.Id);
    }

    public void Kill()
    {
        if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
    }

    /// <summary>Waits up to 10 s for the process to be gone (after <see cref="Kill"/>); true when it is.</summary>
    public async Task<bool> WaitForExitAsync()
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!HasExited && DateTime.UtcNow < until) await Task.Delay(20);
        return HasExited;
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        if (_process is not null) await _process.WaitForExitAsync();
        Client.Dispose();
        File.Delete(_configFile);
        if (_ownsWal && Directory.Exists(WalDirectory)) Directory.Delete(WalDirectory, recursive: true);
        if (_ownsDeadLetter && Directory.Exists(DeadLetterDirectory)) Directory.Delete(DeadLetterDirectory, recursive: true);
    }

    public static string DaemonDll => Path.Combine(AppContext.BaseDirectory, "Ingest.dll");

    /// <summary>
    /// The environment that loads the test startup hook into the daemon with <paramref name="fault"/> (see
    /// <c>tests/Ingest.TestHooks</c>), and holds its start after binding until <paramref name="holdUntil"/> exists.
    /// </summary>
    public static Dictionary<string, string> Fault(string fault, string? holdUntil = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, "Ingest.TestHooks.dll"),
            ["INGESTTEST_FAULT"] = fault,
        };
        if (holdUntil is not null) environment["INGESTTEST_HOLD"] = holdUntil;
        return environment;
    }

    private static ProcessStartInfo StartInfo(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add(DaemonDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The tests' own environment must not leak settings into the daemon.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("INGEST_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_gcServer"] = "0";
        psi.Environment["Logging__Console__FormatterName"] = "simple";
        return psi;
    }

    public static int FreeLoopbackPort() => Servers.FreePort.Next();

    private static class Posix
    {
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        private static extern int kill(int pid, int sig);

        public static void Terminate(int pid) => kill(pid, 15);

        public static void Hangup(int pid) => kill(pid, 1);
    }
}
