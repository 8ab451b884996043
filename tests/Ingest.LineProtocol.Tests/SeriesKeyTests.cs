using System.Text;

namespace Ingest.LineProtocol.Tests;

public class SeriesKeyTests
{
    [Theory]
    [InlineData("cpu", "cpu")]
    [InlineData("cpu,host=a", "cpu")]
    [InlineData(@"my\,m,host=a", @"my\,m")]
    [InlineData(@"my\ m\,x,k=v,k2=v", @"my\ m\,x")]
    [InlineData(",x", ",x")] // a measurement cannot be empty: a leading comma is part of it
    public void The_measurement_ends_at_the_first_comma_no_backslash_escapes(string key, string measurement)
    {
        var bytes = Encoding.UTF8.GetBytes(key);
        Assert.Equal(measurement, Encoding.UTF8.GetString(bytes, 0, Escaping.MeasurementLength(bytes)));
    }
}
