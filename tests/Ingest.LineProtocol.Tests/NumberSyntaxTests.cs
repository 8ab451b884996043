using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

/// <summary>Field value syntax at the edges where .NET's number parsing is more lenient than InfluxDB.</summary>
public class NumberSyntaxTests
{
    [Theory]
    [InlineData("1", 1.0)]
    [InlineData("1.", 1.0)]
    [InlineData(".1", 0.1)]
    [InlineData("-.5", -0.5)]
    [InlineData("1E4", 1e4)]
    [InlineData("-1.0e-4", -1e-4)]
    [InlineData("6.632243e+06", 6632243.0)]
    [InlineData("007.5", 7.5)]
    [InlineData("1e-400", 0.0)]
    [InlineData("1.7976931348623157e308", double.MaxValue)]
    public void Float_accepted(string text, double expected)
    {
        var value = Lp.Single($"m v={text}").Fields[0].Value;
        Assert.Equal(FieldType.Float, value.Type);
        Assert.Equal(expected, value.Float);
    }

    [Theory]
    [InlineData("+1")]
    [InlineData("0x10")]
    [InlineData("1_000")]
    [InlineData("infinity")]
    [InlineData("Infinity")]
    [InlineData("-Inf")]
    [InlineData("nan")]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData(".")]
    [InlineData("-.")]
    [InlineData("1.5.")]
    [InlineData("1,5")]
    [InlineData("1\t")]
    [InlineData("1.0i")]
    [InlineData("1e3i")]
    [InlineData("1ii")]
    [InlineData("i")]
    [InlineData("-u")]
    [InlineData("1u1")]
    public void Malformed_or_out_of_range_number_is_rejected(string text)
    {
        Lp.SingleError($"m v={text}");
    }

    [Theory]
    [InlineData("0i", 0L)]
    [InlineData("-0i", 0L)]
    [InlineData("0009223372036854775807i", long.MaxValue)]
    [InlineData("-9223372036854775808i", long.MinValue)]
    public void Integer_accepted_over_the_whole_int64_range(string text, long expected)
    {
        Assert.Equal(FieldValue.FromInteger(expected), Lp.Single($"m v={text}").Fields[0].Value);
    }

    [Theory]
    [InlineData("0u", 0UL)]
    [InlineData("00018446744073709551615u", ulong.MaxValue)]
    public void Unsigned_accepted_over_the_whole_uint64_range(string text, ulong expected)
    {
        Assert.Equal(FieldValue.FromUnsigned(expected), Lp.Single($"m v={text}").Fields[0].Value);
    }

    [Theory]
    [InlineData("t", true)]
    [InlineData("T", true)]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("f", false)]
    [InlineData("F", false)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("FALSE", false)]
    public void Every_InfluxDB_boolean_spelling_is_accepted(string text, bool expected)
    {
        Assert.Equal(FieldValue.FromBoolean(expected), Lp.Single($"m v={text}").Fields[0].Value);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("tRuE")]
    [InlineData("fals")]
    [InlineData("truee")]
    public void Other_boolean_spellings_are_rejected(string text)
    {
        Assert.Equal("invalid boolean", Lp.SingleError($"m v={text}").Reason);
    }

    [Theory]
    [InlineData("\"\\\\\"", "\\")]
    [InlineData("\"\\\\\\\\\\\\\"", "\\\\\\")]
    [InlineData("\"a\\nb\"", "a\\nb")]
    [InlineData("\"a\\,b\"", "a\\,b")]
    public void String_unescapes_only_quote_and_backslash(string text, string expected)
    {
        Assert.Equal(expected, Lp.Single($"m v={text}").Fields[0].Value.String);
    }
}
