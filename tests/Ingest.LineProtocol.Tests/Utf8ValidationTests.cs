using System.Text;
using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

/// <summary>
/// Line protocol is UTF-8. InfluxDB stores invalid bytes it is given and then cannot open the shard that holds
/// them, so a line with invalid UTF-8 anywhere is a bad line like any other: reported, and its neighbours kept.
/// </summary>
public class Utf8ValidationTests
{
    /// <summary>A body from text in which each <c>~</c> stands for the byte given.</summary>
    private static byte[] With(string text, byte bad) =>
        Encoding.UTF8.GetBytes(text).Select(b => b == (byte)'~' ? bad : b).ToArray();

    private static (PointBatch Batch, ParseSummary Summary) Parse(byte[] body, ParserOptions? options = null)
    {
        var batch = new PointBatch();
        return (batch, new LineProtocolParser(options).Parse(body, Precision.Nanoseconds, Lp.Now, batch));
    }

    [Theory]
    [InlineData("m~ v=1 1", 2)]               // measurement
    [InlineData("m,t~g=a v=1 1", 4)]          // tag key
    [InlineData("m,tag=a~ v=1 1", 8)]         // tag value
    [InlineData("m f~=1 1", 4)]               // field key
    [InlineData("m s=\"a~b\" 1", 7)]          // string field value
    [InlineData("m s=\"a\\~\" 1", 8)]         // escaped byte inside a string
    [InlineData("m\\~,t=a v=1 1", 3)]         // escaped byte in the measurement
    [InlineData("m,t=a\\~ v=1 1", 7)]         // escaped byte in a tag value
    [InlineData("m v=1 1~", 8)]               // after the timestamp
    public void A_lone_0xFF_anywhere_in_a_line_makes_it_bad(string text, int position)
    {
        var body = With("good v=1 1\n" + text + "\nalso v=2 2\n", 0xFF);
        var (batch, summary) = Parse(body);

        Assert.Equal(2, summary.Points);
        Assert.Equal("good v=1 1\nalso v=2 2\n", Lp.Text(batch.Data));
        var error = Assert.Single(summary.Errors);
        Assert.Equal(2, error.LineNumber);
        Assert.Equal($"invalid UTF-8: 0xFF at byte {position}", error.Reason);
        Assert.Equal(text.Replace('~', '\uFFFD'), error.Line);
    }

    [Theory]
    [InlineData(new byte[] { 0xC3 }, "0xC3")]                    // lead byte with its continuation missing
    [InlineData(new byte[] { 0x80 }, "0x80")]                    // continuation byte alone
    [InlineData(new byte[] { 0xC0, 0xAF }, "0xC0")]              // overlong encoding of '/'
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "0xED")]        // UTF-16 surrogate encoded as UTF-8
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "0xF4")]  // above U+10FFFF
    [InlineData(new byte[] { 0xE2, 0x82 }, "0xE2 0x82")]         // a three-byte sequence cut after two
    public void Every_kind_of_malformed_sequence_is_refused(byte[] sequence, string shown)
    {
        byte[] body = [.. "m,t=x"u8, .. sequence, .. " v=1 1"u8];
        var (batch, summary) = Parse(body);
        Assert.Equal(0, batch.Count);
        Assert.Equal($"invalid UTF-8: {shown} at byte 6", Assert.Single(summary.Errors).Reason);
    }

    [Fact]
    public void A_sequence_cut_at_the_end_of_the_body_is_refused()
    {
        byte[] body = [.. "m s=\"x\" 1\nm,t="u8, 0xE2, 0x82];
        var (batch, summary) = Parse(body);
        Assert.Equal(1, batch.Count);
        var error = Assert.Single(summary.Errors);
        Assert.Equal(2, error.LineNumber);
        Assert.Equal("invalid UTF-8: 0xE2 0x82 at byte 5", error.Reason);
    }

    [Fact]
    public void A_sequence_split_by_a_line_feed_inside_a_string_is_refused()
    {
        // The LF stays inside the quoted value, so both halves belong to one line, which is not UTF-8.
        byte[] body = [.. "m s=\"a"u8, 0xE2, (byte)'\n', 0x82, 0xAC, .. "\" 1\nok v=1 1\n"u8];
        var (batch, summary) = Parse(body);
        Assert.Equal("ok v=1 1\n", Lp.Text(batch.Data));
        var error = Assert.Single(summary.Errors);
        Assert.Equal(1, error.LineNumber);
        Assert.StartsWith("invalid UTF-8: 0xE2 at byte 7", error.Reason);
    }

    [Fact]
    public void Valid_multibyte_text_is_accepted_everywhere_and_forwarded_unchanged()
    {
        const string body = "température,ville=Zürich,区=東京 humidité=0.5,note=\"☀ 🌡️ ok\",größe=1i 1\n";
        var (batch, summary) = Parse(Encoding.UTF8.GetBytes(body));
        Assert.Equal(0, summary.BadLines);
        Assert.Equal(body, Lp.Text(batch.Data));
        var point = PointDecoder.Decode(batch, 0);
        Assert.Equal("température", point.Measurement);
        Assert.Equal("Zürich", point.Tags.Single(t => t.Key == "ville").Value);
        Assert.Equal("☀ 🌡️ ok", point.Fields.Single(f => f.Key == "note").Value.String);
    }

    [Fact]
    public void Comments_with_invalid_bytes_are_skipped_like_any_comment()
    {
        var (batch, summary) = Parse(With("# written by ~ tool\nm v=1 1\n", 0xFE));
        Assert.Equal(0, summary.BadLines);
        Assert.Equal(1, batch.Count);
    }

    [Fact]
    public void The_error_text_follows_InfluxDB_wording()
    {
        var (_, summary) = Parse(With("utf~,t=a v=1", 0xFF));
        Assert.Equal("unable to parse 'utf\uFFFD,t=a v=1': invalid UTF-8: 0xFF at byte 4 (line 1)", summary.FirstError!.ToString());
    }

    [Fact]
    public void Every_bad_line_is_counted_past_the_reported_ones()
    {
        var body = With(string.Concat(Enumerable.Repeat("m~ v=1 1\nm v=2 2\n", 20)), 0xFF);
        var (batch, summary) = Parse(body, new ParserOptions { MaxReportedErrors = 3 });
        Assert.Equal(20, batch.Count);
        Assert.Equal(20, summary.BadLines);
        Assert.Equal([1, 3, 5], summary.Errors.Select(e => e.LineNumber));
    }
}
