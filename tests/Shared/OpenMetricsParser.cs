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
        var result = ToolRun.WithInput(Python, ["-c", Script], exposition, "install the Debian packages python3 and python3-prometheus-client");
        if (result.ExitCode != 0 && result.Stderr.Contains("No module named 'prometheus_client'", StringComparison.Ordinal))
            Assert.Fail("install the Debian package python3-prometheus-client for this test");
        return result;
    }
}
