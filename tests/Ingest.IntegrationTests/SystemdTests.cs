using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// The daemon under systemd's protocols, with the test in systemd's place: a NOTIFY_SOCKET datagram socket it
/// listens on, a JOURNAL_STREAM naming the daemon's stdout, and SIGHUP as ExecReload sends it.
/// </summary>
public class SystemdTests(ITestOutputHelper output)
{
    /// <summary>
    /// Undelivered records are left in the log (InfluxDB down, daemon killed). The restart has a buffer of 500
    /// points for 3 000 to replay while InfluxDB is still down, so the replay stalls until InfluxDB is back; the
    /// daemon logs that it waits for the buffer after 5 s, and by then no READY may have arrived. Once InfluxDB
    /// runs again, READY=1 must come, and at that moment every record is replayed and /health answers.
    /// SIGTERM then gives STOPPING=1.
    /// </summary>
    [Fact]
    public async Task READY_comes_only_after_the_log_replay_and_STOPPING_at_SIGTERM()
    {
        await using var stack = await IngestStack.StartAsync();
        var daemon = stack.Daemon;
        var db = ServersFixture.UniqueName("notify");
        await stack.Influx.StopAsync();
        const int Requests = 30, PerRequest = 100;
        for (int r = 0; r < Requests; r++)
        {
            var body = string.Join('\n', Enumerable.Range(0, PerRequest).Select(i => $"m,r={r} v={i} {1_767_225_600_000_000_000L + (r * PerRequest) + i}"));
            using var response = await daemon.Client.PostAsync($"write?db={db}", new StringContent(body));
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }
        daemon.Kill();
        Assert.True(await daemon.WaitForExitAsync(), "the killed daemon did not exit");

        var socketPath = Path.Combine(Path.GetTempPath(), $"ingest-notify-{Guid.NewGuid():N}.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        try
        {
            daemon.Set("Influx:BatchSize", "100");
            daemon.Set("Buffer:Capacity", "500");
            daemon.Environment["NOTIFY_SOCKET"] = socketPath;
            int logStart = daemon.Output.Length;
            daemon.Launch();

            await WaitForOutputAsync(daemon, logStart, "waiting for the buffer", TimeSpan.FromSeconds(90));
            if (notify.Available > 0) Assert.Fail($"a notification arrived while the replay was stalled: {Receive(notify)}");

            await stack.Influx.StartAsync();
            var ready = await ReceiveAsync(notify, TimeSpan.FromSeconds(120), daemon);
            Assert.Equal("READY=1", ready);
            var metrics = await daemon.Client.GetStringAsync("metrics");
            var replayed = Regex.Match(metrics, "\ningest_wal_records_replayed_total (\\d+)\n");
            Assert.True(replayed.Success && long.Parse(replayed.Groups[1].Value) == Requests,
                $"READY=1 arrived with {replayed.Groups[1].Value} of {Requests} records replayed");
            output.WriteLine($"READY=1 after {Requests} records replayed; /metrics answered");

            var stopping = Task.Run(() => ReceiveAsync(notify, TimeSpan.FromSeconds(60), daemon));
            await daemon.StopAsync();
            Assert.Equal("STOPPING=1", await stopping);
            Assert.Equal(0, notify.Available);
        }
        finally
        {
            File.Delete(socketPath);
        }
    }

    /// <summary>
    /// With JOURNAL_STREAM naming its stdout, as systemd sets it, the daemon logs in the journal's format
    /// ("&lt;6&gt;category[0] message", the priority journald files the line under). SIGHUP, which the unit's
    /// ExecReload sends, reloads the configuration and the daemon keeps serving.
    /// </summary>
    [Fact]
    public async Task With_JOURNAL_STREAM_on_its_stdout_the_log_has_journal_priorities_and_SIGHUP_does_not_stop_it()
    {
        await using var stack = await IngestStack.StartAsync();
        var daemon = stack.Daemon;
        await daemon.StopAsync();
        int logStart = daemon.Output.Length;
        // The shell's stdout is the pipe the daemon inherits with exec; JOURNAL_STREAM is "device:inode" of it.
        // SIGHUP goes back to its default first (see DaemonProcess.DefaultSighup).
        daemon.LaunchScript = "export JOURNAL_STREAM=\"$(stat -L -c %d:%i /proc/$$/fd/1)\"; " + DaemonProcess.DefaultSighup;
        daemon.Environment["Logging__Console__FormatterName"] = null;
        daemon.Launch();
        await daemon.WaitForHealthAsync();

        // "Application started" follows the start of every hosted service, the SIGHUP handler's included.
        await WaitForOutputAsync(daemon, logStart, "Application started", TimeSpan.FromSeconds(30));
        var started = daemon.Output[logStart..];
        Assert.Matches(new Regex("(?m)^<6>Microsoft\\.Hosting\\.Lifetime\\[0\\] "), started);
        Assert.DoesNotContain("info: ", started);

        daemon.Hangup();
        await WaitForOutputAsync(daemon, logStart, "Configuration reloaded (signal)", TimeSpan.FromSeconds(30));
        Assert.Matches(new Regex("(?m)^<6>Ingest\\.Hosting\\.Reload\\.ConfigReloader\\[\\d+\\] Configuration reloaded \\(signal\\)"), daemon.Output[logStart..]);
        using var health = await daemon.Client.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.False(daemon.HasExited);
    }

    private static async Task WaitForOutputAsync(DaemonProcess daemon, int from, string text, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (daemon.Output.IndexOf(text, from, StringComparison.Ordinal) >= 0) return;
            if (daemon.HasExited) break;
            await Task.Delay(100);
        }
        Assert.Fail($"no '{text}' in the daemon's output within {timeout.TotalSeconds} s (exited: {daemon.HasExited}):\n{daemon.Output[from..]}");
    }

    private static async Task<string> ReceiveAsync(Socket socket, TimeSpan timeout, DaemonProcess daemon)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no notification within {timeout.TotalSeconds} s:\n{daemon.Output}");
            throw;
        }
    }

    private static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        return Encoding.UTF8.GetString(buffer, 0, socket.Receive(buffer));
    }
}
