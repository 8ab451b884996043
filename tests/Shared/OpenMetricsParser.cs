using System.Diagnostics;

namespace Ingest.Testing;

/// <summary>
/// The OpenMetrics parser of the Python Prometheus client (Debian package python3-prometheus-client), an
/// independent and strict reader: it refuses a missing <c># EOF</c>, a counter sample without <c>_total</c>,
/// unsorted or non-cumulative buckets, a histogram without +Inf, malformed exemplars and bad escapes.
/// </summary>
internal static class OpenMetricsParser
{
    private const string Python = "/usr/bin/python3";

    private const string Script =
        "import sys\n" +
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families\n" +
        "for f in text_string_to_metric_families(sys.stdin.read()):\n" +
        "    for s in f.samples:\n" +
        "        print(f.type, f.name, s.name, sorted(s.labels.items()), s.value, s.exemplar is not None)\n";

    /// <summary>Exit code 0 and one line per sample on success; the parser's error on stderr otherwise.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Parse(string exposition)
    {
        var start = new ProcessStartInfo(Python, ["-c", Script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail($"{Python} is required: install the Debian packages python3 and python3-prometheus-client.");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(exposition);
            process.StandardInput.Close();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill();
                Assert.Fail("the OpenMetrics parser did not finish within 60 s");
            }
            if (process.ExitCode != 0 && stderr.Result.Contains("No module named 'prometheus_client'", StringComparison.Ordinal))
                Assert.Fail("install the Debian package python3-prometheus-client for this test");
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
