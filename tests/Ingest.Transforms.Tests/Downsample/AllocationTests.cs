using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

/// <summary>Run alone: other tests renting from the shared PointBatch and ArrayPool pools would show up as our allocations.</summary>
[CollectionDefinition("Downsample allocation", DisableParallelization = true)]
public class DownsampleAllocationCollection;

/// <summary>The hot-path promise: once series windows and pools have warmed up, processing allocates nothing per point.</summary>
[Collection("Downsample allocation")]
public class AllocationTests
{
    private const int Series = 500;

    [Fact]
    public void Steady_state_processing_allocates_nothing_per_point()
    {
        var stage = new DownsampleStage(new DownsampleOptions
        {
            Tiers = [Tier("10s", 1.0 / 6, 0.5, "mean,min,max,sum,count,first,last,p50,p99"), Tier("1m", 1, 0, source: "10s")],
        });
        // One batch per second of event time, every series once, four numeric fields and a string.
        var batches = Enumerable.Range(0, 360).Select(Batch).ToArray();
        Action<PointBatch> release = PointBatch.Return;

        // Long enough for every pooled sketch to have grown its buckets to the data's range.
        for (int i = 0; i < 240; i++) stage.Process(batches[i], release);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 240; i < 360; i++) stage.Process(batches[i], release);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        long points = 120L * Series;
        Assert.True(stage.GetStats(0).WindowsEmitted > 10 * Series, "windows must have been opened and closed while measuring");
        // Any allocation per point costs at least 24 bytes; what remains is the shared ArrayPool refilling now and then.
        Assert.True(allocated < points / 2, $"{allocated} bytes allocated for {points} points ({(double)allocated / points:F3} B/point)");
        foreach (var b in batches) PointBatch.Return(b);
    }

    private static PointBatch Batch(int second)
    {
        var body = new StringBuilder();
        long time = second * 1_000_000_000L;
        for (int s = 0; s < Series; s++)
            body.Append($"cpu,host=host{s},dc=eu usage_user={s % 100 + second % 7}.5,usage_system={second}i,load={s}u,temp=-{s % 13}.25,state=\"ok\" {time}\n");
        var batch = new PointBatch { Database = "db" };
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body.ToString()), Precision.Nanoseconds, 0, batch);
        return batch;
    }
}
