using Xunit.Abstractions;

namespace Ingest.Wal.Tests;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>Runs alone: it counts the bytes allocated by every thread of the process.</summary>
[Collection(nameof(AllocationTests))]
public sealed class AllocationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(WalSyncMode.Interval)]
    [InlineData(WalSyncMode.PerWrite)]
    public async Task Steady_state_appends_allocate_almost_nothing_per_record(WalSyncMode mode)
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1L << 30, mode: mode, syncInterval: TimeSpan.FromHours(1)));
        byte[] payload = Wal.Payload(1, 1024);
        int count = mode == WalSyncMode.Interval ? 20_000 : 2_000;
        for (int i = 0; i < count / 4; i++)
            await log.AppendAsync(payload);

        long fewest = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < count; i++)
                await log.AppendAsync(payload);
            fewest = Math.Min(fewest, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        double perAppend = (double)fewest / count;
        output.WriteLine($"{mode}: {perAppend:F1} bytes per append");
        Assert.True(perAppend < 32, $"{perAppend:F1} bytes allocated per append");
    }
}
