using System.Diagnostics;

namespace Ingest.IntegrationTests.Servers;

/// <summary>Exit code and output of one promtool run.</summary>
public sealed record PromToolResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
    public override string ToString() => $"promtool exit {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}

/// <summary>Runs Prometheus' <c>promtool</c> (Debian package <c>prometheus</c>).</summary>
public static class PromTool
{
    private const string DebianPackages = "prometheus";

    /// <summary>Path of promtool, or a <see cref="ServerHarnessException"/> naming the package to install.</summary>
    public static string Executable => ServerProcess.FindExecutable("promtool", DebianPackages);

    /// <summary><c>promtool check metrics</c> with <paramref name="exposition"/> on stdin.</summary>
    /// <remarks>Exit code 0 = valid; lint problems are reported on stderr and give a non-zero exit code.</remarks>
    public static Task<PromToolResult> CheckMetricsAsync(string exposition, CancellationToken cancellationToken = default) =>
        RunAsync(new[] { "check", "metrics" }, exposition, cancellationToken);

    /// <summary>Runs promtool with arbitrary arguments, e.g. <c>check config prometheus.yml</c>.</summary>
    public static async Task<PromToolResult> RunAsync(IEnumerable<string> args, string? stdin = null, CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);

        using var process = Process.Start(psi) ?? throw new ServerHarnessException("could not start promtool");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (stdin is not null)
        {
            // promtool wants "\n" line ends; an exposition built with Environment.NewLine is fine on Linux.
            await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken).ConfigureAwait(false);
        }
        process.StandardInput.Close();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new PromToolResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}
