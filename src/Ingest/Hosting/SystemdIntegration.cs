using Ingest.Graph;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Console;

namespace Ingest.Hosting;

/// <summary>
/// Running as a systemd service (<c>Type=notify</c>, deploy/systemd/ingest.service) with
/// Microsoft.Extensions.Hosting.Systemd: READY=1 once the host has started, which is after the write-ahead
/// log's replay (PipelineService.StartAsync) and after Kestrel listens (the web server starts last), and
/// STOPPING=1 when shutdown begins; log lines in the journal's format (<c>&lt;6&gt;category[0] message</c>,
/// the priority prefix journald turns into the entry's level).
/// </summary>
public static class SystemdIntegration
{
    public const string NotifySocketVariable = "NOTIFY_SOCKET";
    public const string JournalStreamVariable = "JOURNAL_STREAM";

    public static void Add(WebApplicationBuilder builder)
    {
        if (!OperatingSystem.IsLinux()) return;
        var services = builder.Services;
        // The library's own test is "the parent process is systemd (or we are PID 1 in a container)". The
        // sd_notify contract is the NOTIFY_SOCKET variable, which also reaches the daemon started through a
        // wrapper that stays its parent, so either one turns notifications on.
        bool service = SystemdHelpers.IsSystemdService();
        if (service || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NotifySocketVariable)))
        {
            services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
            services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }
        // An operator's explicit choice (Logging:Console:FormatterName=json, say) wins over the journal format.
        if ((service || StdoutIsJournal()) && string.IsNullOrEmpty(builder.Configuration["Logging:Console:FormatterName"]))
            services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Systemd);
    }

    /// <summary>
    /// systemd sets JOURNAL_STREAM to the device and inode of the stream it connected stdout/stderr to; a child
    /// that redirected its output inherits the variable all the same, so the inode must match what fd 1 or 2 is.
    /// </summary>
    public static bool StdoutIsJournal()
    {
        var value = Environment.GetEnvironmentVariable(JournalStreamVariable);
        int colon = value?.IndexOf(':') ?? -1;
        if (colon < 0) return false;
        var inode = value![(colon + 1)..];
        foreach (var fd in new[] { 1, 2 })
        {
            try
            {
                // "socket:[12345]" for journald's stream socket, "pipe:[…]" or a path otherwise.
                var target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
                if (target is not null && target.EndsWith($":[{inode}]", StringComparison.Ordinal)) return true;
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return false;
    }
}
