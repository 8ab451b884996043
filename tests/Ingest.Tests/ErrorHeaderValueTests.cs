using Ingest.Sources.Http;

namespace Ingest.Tests;

/// <summary>The <c>X-Influxdb-Error</c> value: always a valid header, decodable back to the message.</summary>
public class ErrorHeaderValueTests
{
    [Theory]
    [InlineData("unable to parse 'cpu v=x': invalid boolean", "unable to parse 'cpu v=x': invalid boolean")]
    [InlineData("ville=Zürich", "ville=Z%C3%BCrich")]
    [InlineData("a\tb\r\nc\u0001\u007F", "a%09b%0D%0Ac%01%7F")]
    [InlineData("50% idle", "50%25 idle")]
    [InlineData("🌡", "%F0%9F%8C%A1")]
    public void Characters_a_header_cannot_hold_are_percent_encoded(string message, string header)
    {
        Assert.Equal(header, InfluxResponses.HeaderValue(message));
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        // Built at run time: an attribute cannot carry an invalid string intact.
        var message = "bad " + (char)0xD800 + " surrogate";
        Assert.Equal("bad %EF%BF%BD surrogate", InfluxResponses.HeaderValue(message));
    }

    [Fact]
    public void Plain_ASCII_is_cut_at_1024_characters()
    {
        Assert.Equal(new string('a', 1024), InfluxResponses.HeaderValue(new string('a', 2000)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void An_escape_is_never_cut_in_the_middle(int asciiBefore)
    {
        // 'é' takes six header characters; whatever the alignment, the cut falls between two of them.
        var header = InfluxResponses.HeaderValue(new string('a', asciiBefore) + new string('é', 400));
        Assert.InRange(header.Length, 1024 - 5, 1024);
        Assert.Equal(0, (header.Length - asciiBefore) % 6);
        Assert.Equal(new string('a', asciiBefore) + new string('é', (header.Length - asciiBefore) / 6), Uri.UnescapeDataString(header));
    }
}
