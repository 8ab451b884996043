using System.Text;
using System.Text.Json;
using Ingest.Admission;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests.Admission;

/// <summary>
/// The schema check on its own. InfluxDB is out of reach here (the one path these tests need a stand-in for), so
/// what is checked is what accepted points taught it; the checks against real InfluxDB are SchemaAdmissionTests.
/// </summary>
public class InfluxSchemaTests
{
    private static readonly Task<(JsonDocument? Result, int Status, string? Error)> Unreachable =
        Task.FromResult<(JsonDocument?, int, string?)>((null, 502, "connection refused"));

    private static InfluxSchema Schema(Func<int>? onQuery = null) => new(new InfluxOptions(), (_, _, _) =>
    {
        onQuery?.Invoke();
        return Unreachable;
    }, TimeProvider.System, NullLogger.Instance);

    private static PointBatch Batch(string body)
    {
        var batch = PointBatch.Rent();
        batch.Database = "db";
        new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
        return batch;
    }

    [Fact]
    public async Task Checking_known_fields_allocates_nothing_per_point()
    {
        var schema = Schema();
        var lines = string.Join('\n', Enumerable.Range(0, 2000).Select(i => $"cpu,host=h{i % 50} usage_user={i}.5,usage_idle=1,load={i}i,ok=true {i + 1}"));
        lines += "\nesc\\ aped\\,m f\\=x=1\n";
        var first = Batch(lines);
        Assert.False((await schema.CheckAsync(first, default)).Refused);
        var second = Batch(lines);
        var small = Batch("cpu,host=h1 usage_user=1.5,usage_idle=1,load=2i,ok=true 1");
        // Once to warm up the code paths, then measured.
        await schema.CheckAsync(small, default);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var verdict = schema.CheckAsync(second, default);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(verdict.IsCompletedSuccessfully, "a learned database must be checked without waiting");
        Assert.Null(verdict.Result.Dropped);
        Assert.Equal(2001, second.Count);
        Assert.True(allocated < 200, $"checking 2 001 points of known fields allocated {allocated} bytes");
    }

    [Fact]
    public async Task A_conflict_drops_the_whole_point_and_forgets_what_its_other_fields_claimed()
    {
        var schema = Schema();
        Assert.Null((await schema.CheckAsync(Batch("m a=1i 1"), default)).Dropped);

        // Point 2's "b" is new but the point is dropped for "a": "b" stays free for the next writer.
        var batch = Batch("m a=2i 2\nm b=\"s\",a=1.5 3\nm a=3i 4");
        var verdict = await schema.CheckAsync(batch, default);
        var drop = Assert.Single(verdict.Dropped!);
        Assert.Equal(1, drop.PointIndex);
        Assert.Equal("field type conflict: input field \"a\" on measurement \"m\" is type float, already exists as type integer", drop.Reason);
        Assert.Equal("m b=\"s\",a=1.5 3", drop.Line);
        Assert.Equal(2, batch.Count);
        Assert.Null((await schema.CheckAsync(Batch("m b=true 5"), default)).Dropped);
    }

    [Fact]
    public async Task Types_of_a_batch_that_was_not_accepted_are_forgotten()
    {
        var schema = Schema();
        var verdict = await schema.CheckAsync(Batch("m v=1i 1"), default);
        // The shape "m, v integer" is now known: a second batch of it takes the quick path.
        Assert.Null((await schema.CheckAsync(Batch("m v=4i 4"), default)).Dropped);
        // The first batch is refused for want of buffer room, say: undone, and the known shape with it.
        verdict.Undo();
        Assert.Null((await schema.CheckAsync(Batch("m v=1.5 2"), default)).Dropped);
        Assert.NotNull((await schema.CheckAsync(Batch("m v=1i 3"), default)).Dropped);
    }

    [Fact]
    public async Task An_unreachable_InfluxDB_is_asked_once_then_not_again_for_a_while()
    {
        int queries = 0;
        var schema = Schema(() => Interlocked.Increment(ref queries));
        for (int i = 0; i < 20; i++) await schema.CheckAsync(Batch($"m v={i} {i + 1}"), default);
        Assert.Equal(1, queries);
    }

    [Theory]
    [InlineData("0s", 0L)]
    [InlineData("1h0m0s", 3_600_000_000_000L)]
    [InlineData("168h0m0s", 604_800_000_000_000L)]
    [InlineData("30m0s", 1_800_000_000_000L)]
    [InlineData("1m30.5s", 90_500_000_000L)]
    [InlineData("", 0L)]
    [InlineData("forever", 0L)]
    public void InfluxDB_durations_are_read_as_Go_prints_them(string text, long nanoseconds) =>
        Assert.Equal(nanoseconds, InfluxSchema.ParseGoDuration(text));
}
