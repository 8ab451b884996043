using System.Diagnostics;

namespace Ingest.Testing;

/// <summary>Runs a command-line checker with a text on its standard input, for tests.</summary>
internal static class ToolRun
{
    /// <summary>
    /// Runs <paramref name="path"/> with <paramref name="args"/>, writes <paramref name="input"/> to it and closes its
    /// input; fails the test when it cannot be started (naming <paramref name="install"/>) or takes over a minute.
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr) WithInput(string path, string[] args, string input, string install)
    {
        var start = new ProcessStartInfo(path, args)
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
            Assert.Fail($"{path} is required for this test: {install}.");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(input);
            process.StandardInput.Close();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill();
                Assert.Fail($"{path} {string.Join(' ', args)} did not finish within 60 s");
            }
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
