using System.Diagnostics;

namespace Ingest.Telemetry.Tests.Prometheus;

internal static class Promtool
{
    public const string Path = "/usr/bin/promtool";

    public static (int ExitCode, string Stdout, string Stderr) CheckMetrics(string exposition)
    {
        if (!File.Exists(Path))
            Assert.Fail($"promtool is required at {Path} for this test: install the Debian package `prometheus` (apt-get install prometheus).");
        var start = new ProcessStartInfo(Path, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(exposition);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("promtool check metrics did not finish within 60 s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
