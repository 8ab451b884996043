using System.Runtime.InteropServices;
using System.Text;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>
/// Freezes one of the test's own server processes (SIGSTOP) and lets it go again (SIGCONT), so that requests sent
/// meanwhile pile up and are then served concurrently. The process is found by a unique command-line fragment
/// (the server's own temp config path), never by name.
/// </summary>
public sealed class ServerPause : IDisposable
{
    private const int SigStop = 19, SigCont = 18;
    private readonly int _pid;
    private bool _stopped;

    private ServerPause(int pid) => _pid = pid;

    public static ServerPause For(string uniqueCommandLineFragment)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string cmdline;
            try { cmdline = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(dir, "cmdline"))).Replace('\0', ' '); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (cmdline.Contains(uniqueCommandLineFragment, StringComparison.Ordinal)) return new ServerPause(pid);
        }
        throw new InvalidOperationException($"no process with '{uniqueCommandLineFragment}' in its command line");
    }

    public void Stop()
    {
        if (kill(_pid, SigStop) != 0) throw new InvalidOperationException($"SIGSTOP {_pid} failed: errno {Marshal.GetLastPInvokeError()}");
        _stopped = true;
    }

    public void Continue()
    {
        if (!_stopped) return;
        kill(_pid, SigCont);
        _stopped = false;
    }

    public void Dispose() => Continue();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
