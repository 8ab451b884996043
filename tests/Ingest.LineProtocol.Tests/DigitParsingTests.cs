using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Ingest.LineProtocol.Tests;

/// <summary>The eight-at-a-time digit parser behind timestamps and integer fields, against ulong.TryParse.</summary>
public class DigitParsingTests
{
    [Fact]
    public void Short_digit_runs_parse_like_ulong_TryParse()
    {
        var alphabet = "0123456789/:+- a\u00b0".ToCharArray();
        var text = Gen.Elements(alphabet).ArrayOf().Select(c => new string(c).Substring(0, Math.Min(c.Length, 19)))
            .Where(s => s.Length > 0);
        Prop.ForAll(text.ToArbitrary(), s =>
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            bool expectedOk = s.All(char.IsAsciiDigit) && bytes.Length == s.Length;
            bool ok = Syntax.TryParseShortDigits(bytes, out ulong value);
            Assert.Equal(expectedOk, ok);
            if (ok) Assert.Equal(ulong.Parse(s), value);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Theory]
    [InlineData("9999999999999999999", 9999999999999999999UL)]
    [InlineData("1700000000000000000", 1700000000000000000UL)]
    [InlineData("0000000000000000001", 1UL)]
    [InlineData("12345678", 12345678UL)]
    [InlineData("7", 7UL)]
    public void Known_values_parse_exactly(string text, ulong expected)
    {
        Assert.True(Syntax.TryParseShortDigits(Encoding.ASCII.GetBytes(text), out ulong value));
        Assert.Equal(expected, value);
    }

    [Fact]
    public void A_non_digit_in_any_position_is_rejected()
    {
        foreach (char bad in "/:.e\u00ff")
        {
            for (int i = 0; i < 19; i++)
            {
                var bytes = Encoding.Latin1.GetBytes(new string('5', 19));
                bytes[i] = (byte)bad;
                Assert.False(Syntax.TryParseShortDigits(bytes, out _), $"'{bad}' at {i}");
            }
        }
    }
}
