using Ingest.Sources.Decoding;
using static Ingest.Tests.Sources.DecodingRig;

namespace Ingest.Tests.Sources;

public class LineProtocolExtraTagsTests
{
    private static readonly Dictionary<string, string> Tags = new() { ["dc"] = "eu 1", ["host"] = "fallback", ["zz"] = "last" };

    [Fact]
    public void Extra_tags_are_merged_into_the_sorted_series_key_and_the_point_own_tag_wins()
    {
        var d = Decode(Payload(), "cpu,zone=z,host=a usage=1 5\nmem free=2i 6\n", tags: Tags);
        Assert.Equal(new DecodeResult(2, 0, null), d.Result);
        Assert.Equal(["cpu,dc=eu\\ 1,host=a,zone=z,zz=last usage=1 5", "mem,dc=eu\\ 1,host=fallback,zz=last free=2i 6"], d.Lines);
    }

    [Fact]
    public void Escaped_separators_in_the_point_tags_are_kept_whole()
    {
        var d = Decode(Payload(), "w\\,x,a\\=b=c\\,d,host\\ x=e\\ f v=1 1\n", tags: Tags);
        Assert.Equal(["w\\,x,a\\=b=c\\,d,dc=eu\\ 1,host=fallback,host\\ x=e\\ f,zz=last v=1 1"], d.Lines);
    }

    [Fact]
    public void Bad_lines_are_counted_and_the_good_ones_kept()
    {
        var d = Decode(Payload(), "cpu v=1 1\ncpu v= 2\ncpu v=3 3\n", tags: Tags);
        Assert.Equal(2, d.Result.Points);
        Assert.Equal(1, d.Result.Errors);
        Assert.Contains("line 2", d.Result.FirstError);
    }

    [Fact]
    public void Precision_still_applies()
    {
        var d = Decode(Payload(("Precision", "s")), "cpu v=1 2\n", tags: Tags);
        Assert.Equal(2_000_000_000, d.Batch.Points[0].Timestamp);
    }

    [Fact]
    public void A_series_key_that_the_tags_make_too_long_is_an_error_for_that_point()
    {
        var longTags = new Dictionary<string, string> { ["big"] = new string('x', 65_530) };
        var d = Decode(Payload(), "cpu v=1 1\n", tags: longTags);
        Assert.Equal(new DecodeResult(0, 1, "point 1: its series key with the source's tags is longer than 65535 bytes"), d.Result);
    }

    [Fact]
    public void Without_extra_tags_lines_are_as_the_parser_makes_them()
    {
        Assert.Equal(["cpu,a=1,b=2 v=1 1"], Decode(Payload(), "cpu,b=2,a=1 v=1 1\n").Lines);
    }
}
