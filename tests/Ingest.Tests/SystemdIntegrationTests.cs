using Ingest.Hosting;

namespace Ingest.Tests;

/// <summary>
/// JOURNAL_STREAM is inherited by every child of a service, also one whose output was redirected: only the
/// stream it names, by inode, is the journal. Runs in one collection because it sets a process-wide variable.
/// </summary>
[Collection(nameof(SystemdIntegrationTests))]
public class SystemdIntegrationTests
{
    [Fact]
    public void StdoutIsJournal_OnlyWhenJournalStreamNamesTheInodeOfStdoutOrStderr()
    {
        var previous = Environment.GetEnvironmentVariable(SystemdIntegration.JournalStreamVariable);
        try
        {
            var target = new FileInfo("/proc/self/fd/1").LinkTarget ?? "";
            var open = target.LastIndexOf(":[", StringComparison.Ordinal);
            Assert.True(open > 0 && target.EndsWith(']'), $"stdout of the test host is {target}, not a pipe or socket");
            var inode = target[(open + 2)..^1];

            Environment.SetEnvironmentVariable(SystemdIntegration.JournalStreamVariable, $"8:{inode}");
            Assert.True(SystemdIntegration.StdoutIsJournal());

            Environment.SetEnvironmentVariable(SystemdIntegration.JournalStreamVariable, $"8:{inode}1");
            Assert.False(SystemdIntegration.StdoutIsJournal());
            Environment.SetEnvironmentVariable(SystemdIntegration.JournalStreamVariable, "garbage");
            Assert.False(SystemdIntegration.StdoutIsJournal());
            Environment.SetEnvironmentVariable(SystemdIntegration.JournalStreamVariable, null);
            Assert.False(SystemdIntegration.StdoutIsJournal());
        }
        finally
        {
            Environment.SetEnvironmentVariable(SystemdIntegration.JournalStreamVariable, previous);
        }
    }
}
