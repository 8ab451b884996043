using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

public class WriterTests
{
    [Theory]
    [InlineData("cpu", "cpu")]
    [InlineData("c pu,x", "c\\ pu\\,x")]
    [InlineData("cpu=load \"q\"", "cpu=load\\ \"q\"")]
    [InlineData("a\\=b", "a\\\\=b")]
    [InlineData("温度🚀", "温度🚀")]
    public void Measurement_escapes_comma_and_space_only(string name, string expected)
    {
        Assert.Equal(expected, Lp.Write(w => LineProtocolWriter.WriteMeasurement(w, name)));
    }

    [Theory]
    [InlineData("host", "host")]
    [InlineData("a b,c=d", "a\\ b\\,c\\=d")]
    [InlineData("\\,", "\\\\,")]
    [InlineData("\"q\"", "\"q\"")]
    public void Tag_key_and_value_escape_comma_equals_and_space(string text, string expected)
    {
        Assert.Equal(expected, Lp.Write(w => LineProtocolWriter.WriteTagKey(w, text)));
        Assert.Equal(expected, Lp.Write(w => LineProtocolWriter.WriteTagValue(w, text)));
    }

    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("back\\slash", "\"back\\\\slash\"")]
    [InlineData("", "\"\"")]
    [InlineData("line\nbreak, a=b", "\"line\nbreak, a=b\"")]
    public void String_value_is_quoted_with_quote_and_backslash_escaped(string text, string expected)
    {
        Assert.Equal(expected, Lp.Write(w => LineProtocolWriter.WriteStringValue(w, text)));
    }

    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(-0.5, "-0.5")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e300, "1E+300")]
    [InlineData(double.MaxValue, "1.7976931348623157E+308")]
    [InlineData(double.Epsilon, "5E-324")]
    public void Float_is_written_in_shortest_round_trip_form(double value, string expected)
    {
        string text = Lp.Write(w => LineProtocolWriter.WriteFloat(w, value));
        Assert.Equal(expected, text);
        Assert.Equal(value, Lp.Single($"m v={text}").Fields[0].Value.Float);
    }

    [Fact]
    public void Numbers_and_booleans_carry_their_suffixes()
    {
        Assert.Equal("-9223372036854775808i", Lp.Write(w => LineProtocolWriter.WriteInteger(w, long.MinValue)));
        Assert.Equal("18446744073709551615u", Lp.Write(w => LineProtocolWriter.WriteUnsigned(w, ulong.MaxValue)));
        Assert.Equal("true", Lp.Write(w => LineProtocolWriter.WriteBoolean(w, true)));
        Assert.Equal("false", Lp.Write(w => LineProtocolWriter.WriteBoolean(w, false)));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_float_throws(double value)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Lp.Write(w => LineProtocolWriter.WriteFloat(w, value)));
    }

    [Fact]
    public void Whole_point_is_written_as_one_line()
    {
        var point = new DecodedPoint("my cpu", [new("host", "a b"), new("dc", "x=y")],
            [new("v", FieldValue.FromFloat(1.5)), new("n", FieldValue.FromInteger(-3)), new("u", FieldValue.FromUnsigned(4)),
             new("s", FieldValue.FromString("q\"")), new("b", FieldValue.FromBoolean(true))], 1234);
        Assert.Equal("my\\ cpu,host=a\\ b,dc=x\\=y v=1.5,n=-3i,u=4u,s=\"q\\\"\",b=true 1234\n",
            Lp.Write(w => LineProtocolWriter.WritePoint(w, point)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("#comment")]
    [InlineData("\tcpu")]
    [InlineData("ends\\")]
    [InlineData("two\nlines")]
    public void Measurement_that_line_protocol_cannot_express_throws(string name)
    {
        Assert.Throws<ArgumentException>(() => Lp.Write(w => LineProtocolWriter.WriteMeasurement(w, name)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\\")]
    [InlineData("a\\,b")]
    [InlineData("a\\=b")]
    [InlineData("\tkey")]
    public void Field_key_that_line_protocol_cannot_express_throws(string key)
    {
        Assert.Throws<ArgumentException>(() => Lp.Write(w => LineProtocolWriter.WriteFieldKey(w, key)));
    }

    [Fact]
    public void Empty_tag_value_and_point_without_fields_throw()
    {
        Assert.Throws<ArgumentException>(() => Lp.Write(w => LineProtocolWriter.WriteTagValue(w, "")));
        Assert.Throws<ArgumentException>(() => Lp.Write(w => LineProtocolWriter.WritePoint(w, new DecodedPoint("m", [], [], 0))));
    }

    [Fact]
    public void Writing_whole_points_into_a_warm_batch_allocates_nothing()
    {
        var point = Lp.Single("cpu,host=a,region=b f=1.5,i=2i,u=3u,s=\"x y\",b=true 1");
        var batch = new PointBatch();
        LineProtocolWriter.WritePoint(batch, point);
        Assert.Equal(0, Allocations.Fewest(() =>
        {
            batch.Clear();
            for (int i = 0; i < 100; i++) LineProtocolWriter.WritePoint(batch, point);
        }));
        Assert.Equal(100, new LineProtocolParser().Parse(batch.Data, Precision.Nanoseconds, 0, new PointBatch()).Points);
    }

    [Fact]
    public void Writing_into_a_warm_batch_allocates_nothing()
    {
        var batch = new PointBatch();
        Write(batch);
        Assert.Equal(0, Allocations.Fewest(() =>
        {
            batch.Clear();
            Write(batch);
        }));

        static void Write(PointBatch b)
        {
            for (int i = 0; i < 100; i++)
            {
                LineProtocolWriter.WriteMeasurement(b, "c pu");
                LineProtocolWriter.WriteByte(b, (byte)',');
                LineProtocolWriter.WriteTagKey(b, "host");
                LineProtocolWriter.WriteByte(b, (byte)'=');
                LineProtocolWriter.WriteTagValue(b, "server 1");
                LineProtocolWriter.WriteByte(b, (byte)' ');
                LineProtocolWriter.WriteFieldKey(b, "v");
                LineProtocolWriter.WriteByte(b, (byte)'=');
                LineProtocolWriter.WriteFloat(b, i * 0.1);
                LineProtocolWriter.WriteByte(b, (byte)' ');
                LineProtocolWriter.WriteTimestamp(b, i);
                LineProtocolWriter.WriteByte(b, (byte)'\n');
            }
        }
    }
}
