using Ingest.Testing;

namespace Ingest.Telemetry.Tests.Prometheus;

internal static class Promtool
{
    public const string Path = "/usr/bin/promtool";

    public static (int ExitCode, string Stdout, string Stderr) CheckMetrics(string exposition)
    {
        if (!File.Exists(Path))
            Assert.Fail($"promtool is required at {Path} for this test: install the Debian package `prometheus` (apt-get install prometheus).");
        return ToolRun.WithInput(Path, ["check", "metrics"], exposition, "install the Debian package `prometheus`");
    }
}
