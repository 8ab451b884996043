using System.Text;
using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

/// <summary>Points refused after the parse: taken out of the batch, and traced back to their line in the body.</summary>
public class PointRemovalTests
{
    [Theory]
    [InlineData(new int[0], "a,b,c,d,e")]
    [InlineData(new[] { 0 }, "b,c,d,e")]
    [InlineData(new[] { 4 }, "a,b,c,d")]
    [InlineData(new[] { 1, 3 }, "a,c,e")]
    [InlineData(new[] { 0, 1, 2, 3, 4 }, "")]
    public void Removed_points_leave_exactly_the_kept_lines_in_order(int[] remove, string kept)
    {
        var (batch, _) = Lp.Parse("a v=1 1\nb,t=x v=2i 2\nc s=\"long string value\" 3\nd v=4 4\ne v=true 5\n");
        var before = Enumerable.Range(0, batch.Count).Select(i => Encoding.UTF8.GetString(batch.Line(i))).ToArray();
        batch.Database = "db";

        batch.RemovePoints(remove);

        var expected = Enumerable.Range(0, before.Length).Where(i => !remove.Contains(i)).Select(i => before[i]).ToArray();
        Assert.Equal(kept, string.Join(',', Enumerable.Range(0, batch.Count).Select(i => (char)batch.SeriesKey(i)[0])));
        Assert.Equal(expected, Enumerable.Range(0, batch.Count).Select(i => Encoding.UTF8.GetString(batch.Line(i))));
        // The bytes are the kept lines and nothing else: what a sink sends as the body.
        Assert.Equal(string.Concat(expected), Encoding.UTF8.GetString(batch.Data));
        Assert.Equal("db", batch.Database);
    }

    [Fact]
    public void Indexes_out_of_order_are_refused()
    {
        var (batch, _) = Lp.Parse("a v=1 1\nb v=2 2\n");
        Assert.Throws<ArgumentException>(() => batch.RemovePoints([1, 0]));
    }

    [Fact]
    public void Each_point_is_traced_to_its_line_past_comments_blank_and_bad_lines()
    {
        var body = "# comment\na v=1\n\nbad line\nb v=\"two\nlines\"\nc v=3\n"u8;
        var lines = new LineProtocolParser().PointLineNumbers(body, Precision.Nanoseconds);
        Assert.Equal([2, 5, 7], lines);
    }
}
