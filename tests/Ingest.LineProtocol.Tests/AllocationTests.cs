using Ingest.Benchmarks;

namespace Ingest.LineProtocol.Tests;

/// <summary>The parser's hot-path promise: once a batch has grown, parsing allocates nothing per line.</summary>
public class AllocationTests
{
    [Fact]
    public void Parsing_into_a_warm_batch_allocates_nothing_per_line()
    {
        var small = TelegrafBody.Create(1_000);
        var large = TelegrafBody.Create(10_000);
        var parser = new LineProtocolParser();
        var batch = new PointBatch();
        for (int i = 0; i < 3; i++)
        {
            batch.Clear();
            parser.Parse(large, Precision.Nanoseconds, 0, batch);
        }

        long smallBytes = Measure(parser, batch, small);
        long largeBytes = Measure(parser, batch, large);

        Assert.Equal(10_000, batch.Count);
        Assert.True(largeBytes <= 256, $"parsing 10 000 lines allocated {largeBytes} bytes");
        Assert.True(largeBytes <= smallBytes + 64, $"allocation grows with lines: {smallBytes} B for 1 000, {largeBytes} B for 10 000");
    }

    [Fact]
    public void Bad_lines_beyond_the_reported_ones_allocate_nothing()
    {
        var body = System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("bad line\ncpu v=1 1\n", 2_000)));
        var parser = new LineProtocolParser(new ParserOptions { MaxReportedErrors = 0 });
        var batch = new PointBatch();
        parser.Parse(body, Precision.Nanoseconds, 0, batch);
        batch.Clear();
        long allocated = Measure(parser, batch, body);
        Assert.True(allocated <= 256, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Lines_with_invalid_UTF8_beyond_the_reported_ones_allocate_nothing()
    {
        var line = System.Text.Encoding.UTF8.GetBytes("m,t=x v=1 1\n");
        line[5] = 0xFF;
        var body = Enumerable.Repeat(line, 2_000).SelectMany(l => l.Concat("cpu v=1 1\n"u8.ToArray())).ToArray();
        var parser = new LineProtocolParser(new ParserOptions { MaxReportedErrors = 0 });
        var batch = new PointBatch();
        parser.Parse(body, Precision.Nanoseconds, 0, batch);
        Assert.Equal(2_000, batch.Count);
        batch.Clear();
        long allocated = Measure(parser, batch, body);
        Assert.True(allocated <= 256, $"allocated {allocated} bytes");
    }

    private static long Measure(LineProtocolParser parser, PointBatch batch, byte[] body) =>
        Allocations.Fewest(() =>
        {
            batch.Clear();
            parser.Parse(body, Precision.Nanoseconds, 0, batch);
        });
}
