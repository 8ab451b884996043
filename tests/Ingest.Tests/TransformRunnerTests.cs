using System.Text;
using Ingest.Buffering;
using Ingest.Graph;
using Ingest.LineProtocol;

namespace Ingest.Tests;

public class TransformRunnerTests
{
    private static PointBatch Parse(string body)
    {
        var batch = PointBatch.Rent();
        batch.Database = "db";
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
        return batch;
    }

    [Fact]
    public async Task A_star_excludes_every_batch_whole_and_frees_the_buffer()
    {
        var buffer = new MemoryPointBuffer(100);
        var raw = new StageQueue("raw", 100, FullPolicy.Backpressure, (_, _) => { });
        var derived = new StageQueue("derived", 100, FullPolicy.Backpressure, (_, _) => { });
        var stats = new StageStats("transforms", "transform");
        var runner = new TransformRunner(buffer, [], derived, ["*"], stats);

        Assert.True(await buffer.TryEnqueueAsync(Parse("cpu v=1 1\nmem v=2 2\n"), TimeSpan.Zero));
        Assert.True(await buffer.TryEnqueueAsync(Parse("disk\\ io v=3 3\n"), TimeSpan.Zero));
        buffer.Complete();
        await TestStreams.RunAsync(buffer, runner, raw);

        Assert.Null(await raw.ReadAsync());
        Assert.Equal(0, buffer.Depth);
        Assert.Equal(3, stats.Dropped["raw_excluded"]);
    }

    [Fact]
    public async Task Excluded_measurements_are_not_forwarded_raw_and_leave_the_buffer_at_once()
    {
        var buffer = new MemoryPointBuffer(100);
        var raw = new StageQueue("raw", 100, FullPolicy.Backpressure, (_, _) => { });
        var derived = new StageQueue("derived", 100, FullPolicy.Backpressure, (_, _) => { });
        var stats = new StageStats("transforms", "transform");
        var runner = new TransformRunner(buffer, [], derived, ["debug*", "trace"], stats);

        Assert.True(await buffer.TryEnqueueAsync(Parse("cpu v=1 1\ndebug_x v=2 2\ntrace,h=a v=3 3\nmem v=4 4\ndebug\\ y v=5 5\n"), TimeSpan.Zero));
        Assert.True(await buffer.TryEnqueueAsync(Parse("debug_only v=1 1\n"), TimeSpan.Zero));
        Assert.True(await buffer.TryEnqueueAsync(Parse("cpu v=9 9\n"), TimeSpan.Zero));
        buffer.Complete();
        await TestStreams.RunAsync(buffer, runner, raw);

        var forwarded = new List<string>();
        while (await raw.ReadAsync() is { } b)
        {
            Assert.Equal("db", b.Database);
            for (var i = 0; i < b.Count; i++) forwarded.Add(Encoding.UTF8.GetString(b.SeriesKey(i)));
            buffer.Release(b.Count);
        }
        Assert.Equal(["cpu", "mem", "cpu"], forwarded);
        Assert.Equal(4, stats.Dropped["raw_excluded"]);
        Assert.Equal(0, buffer.Depth);
    }
}
