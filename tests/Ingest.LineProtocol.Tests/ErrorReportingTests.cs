using System.Text;
using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

public class ErrorReportingTests
{
    [Theory]
    [InlineData("cpu", "missing fields")]
    [InlineData("cpu,host=a", "missing fields")]
    [InlineData(",host=a v=1", "missing measurement")]
    [InlineData("cpu, v=1", "missing tag key")]
    [InlineData("cpu,=a v=1", "missing tag key")]
    [InlineData("cpu,host v=1", "missing tag value")]
    [InlineData("cpu,host= v=1", "missing tag value")]
    [InlineData("cpu,host=a=b v=1", "invalid tag format")]
    [InlineData("cpu,host=a,host=b v=1", "duplicate tags")]
    [InlineData("cpu,b=1,a=2,b=3 v=1", "duplicate tags")]
    [InlineData("cpu,time=a v=1", "cannot use reserved tag key \"time\"")]
    [InlineData("cpu,_field=a v=1", "cannot use reserved tag key \"_field\"")]
    [InlineData("cpu,_measurement=a v=1", "cannot use reserved tag key \"_measurement\"")]
    [InlineData("cpu =1", "missing field key")]
    [InlineData("cpu v=", "missing field value")]
    [InlineData("cpu v=,w=1", "missing field value")]
    [InlineData("cpu v=1,", "invalid field format")]
    [InlineData("cpu v=1,w", "invalid field format")]
    [InlineData("cpu v=\"abc", "unbalanced quotes")]
    [InlineData("cpu v=\"abc\"\"", "unbalanced quotes")]
    [InlineData("cpu v=tRuE", "invalid boolean")]
    [InlineData("cpu v=+1", "invalid boolean")]
    [InlineData("cpu v=1.1.1", "invalid number")]
    [InlineData("cpu v=NaN", "invalid number")]
    [InlineData("cpu v=-", "invalid number")]
    [InlineData("cpu v=-1u", "invalid number")]
    [InlineData("cpu v=1e400", "invalid float")]
    [InlineData("cpu v=9223372036854775808i", "unable to parse integer 9223372036854775808: value out of range")]
    [InlineData("cpu v=18446744073709551616u", "unable to parse unsigned 18446744073709551616: value out of range")]
    [InlineData("cpu v=1 1.5", "bad timestamp")]
    [InlineData("cpu v=1 1\r", "bad timestamp")]
    [InlineData("cpu v=1 9223372036854775808", "bad timestamp: value out of range")]
    [InlineData("cpu v=1 9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806")]
    [InlineData("cpu v=1 1 2", "point is invalid")]
    [InlineData("cpu time=1", "invalid field name: input field \"time\" on measurement \"cpu\" is invalid")]
    [InlineData("c\\ pu time=1,time=2i", "invalid field name: input field \"time\" on measurement \"c pu\" is invalid")]
    public void Bad_line_is_reported_with_InfluxDB_reason(string line, string reason)
    {
        var error = Lp.SingleError(line);
        Assert.Equal(reason, error.Reason);
        Assert.Equal(1, error.LineNumber);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void Time_field_next_to_another_field_is_accepted()
    {
        var point = Lp.Single("cpu time=1,v=2");
        Assert.Equal(["time", "v"], point.Fields.Select(f => f.Key));
    }

    [Fact]
    public void Timestamp_overflowing_when_scaled_by_precision_is_out_of_range()
    {
        var error = Lp.SingleError("cpu v=1 9223372036854775", Precision.Seconds);
        Assert.StartsWith("time outside range", error.Reason);
    }

    [Fact]
    public void Series_key_longer_than_65535_bytes_is_rejected()
    {
        string tooLong = "m,t=" + new string('x', 65535 - 4 + 1) + " v=1";
        Assert.StartsWith("max key length exceeded", Lp.SingleError(tooLong).Reason);
        string longest = "m,t=" + new string('x', 65535 - 4) + " v=1";
        Assert.Equal(65535, Lp.Parse(longest).Batch.SeriesKey(0).Length);
    }

    [Fact]
    public void Line_numbers_count_comments_blank_lines_and_newlines_inside_strings()
    {
        string body = "# header\n\ncpu v=1 1\ncpu s=\"two\nlines\" 2\n   \ncpu v=bad 3\n\tcpu v=4 4\ncpu v= 5";
        var (batch, summary) = Lp.Parse(body);
        Assert.Equal(3, batch.Count);
        Assert.Equal(2, summary.BadLines);
        Assert.Equal([7, 9], summary.Errors.Select(e => e.LineNumber));
        Assert.Equal("cpu v=bad 3", summary.Errors[0].Line);
    }

    [Fact]
    public void Good_lines_around_bad_ones_are_kept_and_nothing_of_the_bad_ones_remains()
    {
        var (batch, summary) = Lp.Parse("a v=1 1\nb,x=1,x=2 v=2 2\nc v=3 3\nd v=\"unterminated 4\n");
        Assert.Equal(2, summary.Points);
        Assert.Equal(2, summary.BadLines);
        Assert.Equal("a v=1 1\nc v=3 3\n", Lp.Text(batch.Data));
    }

    [Fact]
    public void Unbalanced_quote_swallows_the_rest_of_the_body_as_InfluxDB_does()
    {
        var (batch, summary) = Lp.Parse("a v=\"open 1\nb v=2 2\nc v=3 3");
        Assert.Equal(0, batch.Count);
        var error = Assert.Single(summary.Errors);
        Assert.Equal("unbalanced quotes", error.Reason);
    }

    [Fact]
    public void Only_MaxReportedErrors_are_detailed_but_every_bad_line_is_counted()
    {
        var body = new StringBuilder();
        for (int i = 0; i < 25; i++) body.Append("bad\ngood v=1 1\n");
        var (batch, summary) = Lp.Parse(body.ToString(), options: new ParserOptions { MaxReportedErrors = 3 });
        Assert.Equal(25, summary.Points);
        Assert.Equal(25, batch.Count);
        Assert.Equal(25, summary.BadLines);
        Assert.Equal([1, 3, 5], summary.Errors.Select(e => e.LineNumber));
    }

    [Fact]
    public void Quoted_line_is_cut_to_MaxQuotedLineBytes_without_splitting_a_character()
    {
        // "é" is two bytes; a cut at 6 bytes would fall inside the third one.
        var error = Lp.SingleError("éééééé", options: new ParserOptions { MaxQuotedLineBytes = 5 });
        Assert.Equal("éé", error.Line);
    }

    [Fact]
    public void LineError_text_follows_InfluxDB_format()
    {
        var error = Lp.SingleError("cpu");
        Assert.Equal("unable to parse 'cpu': missing fields (line 1)", error.ToString());
    }

    [Fact]
    public void Body_without_errors_reports_an_empty_error_list()
    {
        var (_, summary) = Lp.Parse("cpu v=1\n");
        Assert.Empty(summary.Errors);
        Assert.Null(summary.FirstError);
    }
}
