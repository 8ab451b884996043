using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

public class FieldEnumeratorTests
{
    [Theory]
    [InlineData("m f=-1.5e3,i=-42i,u=18446744073709551615u,s=\"a\\\"b,c d\",b=T,k\\ e\\,y=false,g=1,h=.5,t=true,F=FALSE 1")]
    [InlineData("m x=1i,y=2u,z=3,w=\"i\",v=t 1")]
    public void Without_conversion_each_field_has_the_same_key_type_and_raw_value(string line)
    {
        var (batch, _) = Lp.Parse(line);
        var converted = new List<(string, FieldType, string)>();
        foreach (var f in new FieldEnumerator(batch.Fields(0))) converted.Add((f.KeyString(), f.Type, System.Text.Encoding.UTF8.GetString(f.RawValue)));
        var raw = new List<(string, FieldType, string)>();
        foreach (var f in new FieldEnumerator(batch.Fields(0), convert: false)) raw.Add((f.KeyString(), f.Type, System.Text.Encoding.UTF8.GetString(f.RawValue)));
        Assert.Equal(converted, raw);
        Assert.True(raw.Count >= 5);
    }

    [Fact]
    public void Yields_every_field_with_its_type_and_value()
    {
        var (batch, _) = Lp.Parse("m f=-1.5e3,i=-42i,u=18446744073709551615u,s=\"a\\\"b,c d\",b=T,k\\ e\\,y=false 1");
        var enumerator = new FieldEnumerator(batch.Fields(0));

        Assert.True(enumerator.MoveNext());
        Assert.Equal("f"u8, enumerator.Current.Key);
        Assert.Equal(FieldType.Float, enumerator.Current.Type);
        Assert.Equal(-1500.0, enumerator.Current.NumericValue);

        Assert.True(enumerator.MoveNext());
        Assert.Equal(FieldType.Integer, enumerator.Current.Type);
        Assert.Equal(-42L, enumerator.Current.Int64Value);
        Assert.Equal(-42.0, enumerator.Current.NumericValue);

        Assert.True(enumerator.MoveNext());
        Assert.Equal(FieldType.Unsigned, enumerator.Current.Type);
        Assert.Equal(ulong.MaxValue, enumerator.Current.UInt64Value);

        Assert.True(enumerator.MoveNext());
        Assert.Equal(FieldType.String, enumerator.Current.Type);
        Assert.Equal("a\\\"b,c d"u8, enumerator.Current.RawValue);
        Assert.Equal("a\"b,c d", enumerator.Current.StringValue());
        Assert.True(double.IsNaN(enumerator.Current.NumericValue));

        Assert.True(enumerator.MoveNext());
        Assert.Equal(FieldType.Boolean, enumerator.Current.Type);
        Assert.True(enumerator.Current.BooleanValue);
        Assert.Equal(1.0, enumerator.Current.NumericValue);

        Assert.True(enumerator.MoveNext());
        Assert.Equal("k\\ e\\,y"u8, enumerator.Current.Key);
        Assert.Equal("k e,y", enumerator.Current.KeyString());
        Assert.False(enumerator.Current.BooleanValue);

        Assert.False(enumerator.MoveNext());
        Assert.False(enumerator.MoveNext());
    }

    [Fact]
    public void Works_with_foreach_and_stops_at_the_timestamp_of_a_whole_line()
    {
        int count = 0;
        foreach (var field in new FieldEnumerator("a=1i,b=\"x y\" 123\n"u8))
        {
            count++;
            Assert.NotEqual(FieldType.Float, field.Type);
        }
        Assert.Equal(2, count);
    }

    [Fact]
    public void Empty_span_yields_nothing()
    {
        Assert.False(new FieldEnumerator(ReadOnlySpan<byte>.Empty).MoveNext());
    }

    [Fact]
    public void Malformed_input_throws_FormatException()
    {
        Assert.Throws<FormatException>(() => new FieldEnumerator("novalue"u8).MoveNext());
        Assert.Throws<FormatException>(() => new FieldEnumerator("s=\"open"u8).MoveNext());
    }

    [Fact]
    public void Enumerating_a_warm_batch_allocates_nothing()
    {
        var (batch, _) = Lp.Parse(string.Concat(Enumerable.Repeat("m f=1.25,i=2i,u=3u,s=\"x\",b=true 1\n", 100)));
        double sum = Sum(batch);
        long allocated = Allocations.Fewest(() => sum += Sum(batch), attempts: 3);
        Assert.Equal(0, allocated);
        Assert.Equal(4 * 100 * (1.25 + 2 + 3 + 1), sum);
    }

    private static double Sum(PointBatch batch)
    {
        double sum = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            foreach (var field in new FieldEnumerator(batch.Fields(i)))
            {
                if (field.Type != FieldType.String) sum += field.NumericValue;
            }
        }
        return sum;
    }
}
