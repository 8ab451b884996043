using System.Diagnostics;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// The TypeScript client (<c>clients/js</c>, package <c>@ingest/client</c>) runs its own tests, unit and live, with
/// <c>npm test</c> against a real daemon with influxd and redis-server. <c>./run.sh test</c> installs its packages
/// (<c>npm ci</c>) first. The live tests expect what is configured here: a threshold rule and a tier over
/// <c>jsclient_cpu</c>; they ask for a daemon restart by creating the file named in INGEST_TEST_RESTART_FILE.
/// </summary>
public class JsClientTests(ITestOutputHelper log)
{
    private static string ClientDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "clients", "js");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        throw new InvalidOperationException("clients/js was not found above " + AppContext.BaseDirectory);
    }

    private static Dictionary<string, string> Settings() => new()
    {
        ["Thresholds:Rules:0:Name"] = "jsclient_high",
        ["Thresholds:Rules:0:Measurement"] = "jsclient_cpu",
        ["Thresholds:Rules:0:Field"] = "usage",
        ["Thresholds:Rules:0:Direction"] = "above",
        ["Thresholds:Rules:0:Warn"] = "80",
        ["Thresholds:Rules:0:Crit"] = "90",
        ["Downsample:Tiers:0:Name"] = "1m",
        ["Downsample:Tiers:0:Interval"] = "1m",
        ["Downsample:Tiers:0:AllowedLateness"] = "30m",
        ["Downsample:Tiers:0:Measurements:0"] = "jsclient_cpu",
        ["Downsample:Tiers:0:Fields:0"] = "usage",
        ["Downsample:Tiers:0:Aggregates:0"] = "mean",
        ["Downsample:Tiers:0:Aggregates:1"] = "max",
        ["Live:FlushInterval"] = "100ms",
    };

    [Fact]
    public async Task The_TypeScript_client_passes_its_tests_against_a_real_daemon()
    {
        var dir = ClientDirectory();
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "typescript")),
            $"{dir}/node_modules is missing: ./run.sh test installs it (npm ci in clients/js)");
        await using var stack = await IngestStack.StartAsync(Settings());
        var restartFile = Path.Combine(Path.GetTempPath(), $"ingest-js-restart-{Guid.NewGuid():N}");
        var output = new StringBuilder();
        var psi = new ProcessStartInfo("npm") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in (string[])["test", "--silent"]) psi.ArgumentList.Add(a);
        psi.Environment["INGEST_URL"] = stack.Daemon.Url.ToString();
        psi.Environment["INGEST_TEST_RESTART_FILE"] = restartFile;
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("INGEST_TOKEN");
        using var npm = Process.Start(psi)!;
        npm.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        npm.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        npm.BeginOutputReadLine();
        npm.BeginErrorReadLine();
        var restarts = 0;
        try
        {
            var until = DateTime.UtcNow.AddMinutes(4);
            while (!npm.HasExited)
            {
                if (DateTime.UtcNow > until) throw new TimeoutException("npm test did not finish within 4 minutes");
                if (File.Exists(restartFile))
                {
                    // The daemon goes away as an operator's restart makes it go, and comes back on the same port.
                    File.Delete(restartFile);
                    await stack.Daemon.StopAsync();
                    await Task.Delay(500);
                    await stack.Daemon.StartAgainAsync();
                    restarts++;
                }
                await Task.Delay(100);
            }
            await npm.WaitForExitAsync();
        }
        catch
        {
            npm.Kill(entireProcessTree: true);
            throw;
        }
        finally
        {
            File.Delete(restartFile);
        }
        string text;
        lock (output) text = output.ToString();
        log.WriteLine(text);
        Assert.True(npm.ExitCode == 0, $"npm test exited {npm.ExitCode}:\n{text}\n{Oracle.DaemonApi.Tail(stack)}");
        // Every live test ran: none skipped for want of the daemon or of the restart control.
        Assert.Contains("# fail 0", text);
        Assert.Matches(@"# skipped 0\b", text);
        Assert.Equal(1, restarts);
    }
}
