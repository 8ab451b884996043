using System.Globalization;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;

namespace Ingest.Transforms.Tests.Downsample;

public class NumericFieldReaderTests
{
    private static List<(string Key, double Value)> ViaReader(PointBatch batch)
    {
        var list = new List<(string, double)>();
        var reader = new NumericFieldReader(batch.Fields(0));
        while (reader.MoveNext()) list.Add((Encoding.UTF8.GetString(reader.Key), reader.Value));
        return list;
    }

    private static List<(string Key, double Value)> ViaEnumerator(PointBatch batch)
    {
        var list = new List<(string, double)>();
        foreach (var f in new FieldEnumerator(batch.Fields(0)))
        {
            if (f.Type is FieldType.String or FieldType.Boolean) continue;
            list.Add((Encoding.UTF8.GetString(f.Key), f.NumericValue));
        }
        return list;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Yields_the_same_numeric_fields_and_values_as_the_library_enumerator(int seed)
    {
        var random = new Random(seed);
        string[] keys = ["a", @"b\ c", @"d\,e", @"f\=g", "h\\\\"];
        string[] values =
        [
            "1", "-1", "0", "-0", "1.5", "-0.000123", "123456789012345678", "1.7976931348623157e308", "5e-324", "1E5",
            "0.1", "3.141592653589793238", ".5", "7.", "42i", "-9223372036854775808i", "9223372036854775807i",
            "18446744073709551615u", "0u", "true", "F", "FALSE", "\"str, with = and \\\" inside\"", "\"\"",
        ];
        var parser = new LineProtocolParser();
        int compared = 0;
        for (int n = 0; n < 500; n++)
        {
            var fields = Enumerable.Range(0, random.Next(1, 6))
                .Select(i => keys[random.Next(keys.Length)] + i + "=" + values[random.Next(values.Length)]);
            var batch = new PointBatch();
            var line = "m " + string.Join(",", fields) + " 1\n";
            var summary = parser.Parse(Encoding.UTF8.GetBytes(line), Precision.Nanoseconds, 0, batch);
            if (summary.BadLines > 0) continue;
            Assert.Equal(ViaEnumerator(batch), ViaReader(batch));
            compared++;
        }
        Assert.True(compared > 250, $"only {compared} generated lines were valid");
    }

    [Fact]
    public void Short_decimals_parse_exactly_as_double_parse()
    {
        var random = new Random(7);
        var parser = new LineProtocolParser();
        for (int n = 0; n < 20_000; n++)
        {
            int scale = random.Next(0, 16);
            long mantissa = random.NextInt64(-999_999_999_999_999, 999_999_999_999_999);
            string text = (mantissa / Math.Pow(10, scale)).ToString("F" + scale, CultureInfo.InvariantCulture);
            var batch = new PointBatch();
            parser.Parse(Encoding.UTF8.GetBytes($"m v={text} 1\n"), Precision.Nanoseconds, 0, batch);
            var reader = new NumericFieldReader(batch.Fields(0));
            Assert.True(reader.MoveNext());
            Assert.Equal(double.Parse(text, CultureInfo.InvariantCulture), reader.Value);
        }
    }
}
