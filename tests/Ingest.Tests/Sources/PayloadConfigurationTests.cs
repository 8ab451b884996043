using Ingest.Configuration;
using Ingest.Sources.Decoding;
using static Ingest.Tests.Sources.DecodingRig;

namespace Ingest.Tests.Sources;

public class PayloadConfigurationTests
{
    [Fact]
    public void Every_Json_key_is_read()
    {
        var p = Json(("Json:Items", "data"), ("Json:MeasurementPath", "kind"), ("Json:Tags:host", "host"), ("Json:Fields:v", "v"),
            ("Json:FieldTypes:v", "integer"), ("Json:Time", "ts"), ("Json:TimeFormat", "rfc3339"));
        var m = p.Json!;
        Assert.Equal(PayloadFormat.Json, p.Format);
        Assert.Equal("data", m.Items!.Text);
        Assert.Null(m.Measurement);
        Assert.Equal("kind", m.MeasurementPath!.Text);
        Assert.Equal("host", Assert.Single(m.Tags).Value.Text);
        var field = Assert.Single(m.Fields);
        Assert.Equal(("v", "v", Ingest.LineProtocol.FieldType.Integer), (field.Name, field.Value.Text, field.Type));
        Assert.Equal("ts", m.Time!.Text);
        Assert.Equal(JsonTimeFormat.Rfc3339, m.TimeFormat);
    }

    [Theory]
    [InlineData("Json:Fields:v", "a[?", "Sources:s:Json:Fields:v")]
    [InlineData("Json:Tags:t", "foo(", "Sources:s:Json:Tags:t")]
    [InlineData("Json:Items", "[?x ==]", "Sources:s:Json:Items")]
    [InlineData("Json:Time", "ts[", "Sources:s:Json:Time")]
    public void An_expression_that_does_not_compile_names_its_key_and_value(string key, string value, string fullKey)
    {
        var e = ConfigError(("Format", "json"), ("Json:Measurement", "m"), ("Json:Fields:x", "x"), ("Json:TimeFormat", "unix_s"), (key, value));
        Assert.Equal(fullKey, e.Key);
        Assert.Equal(value, e.Value);
        Assert.Contains($"{fullKey} = '{value}'", e.Message);
    }

    [Theory]
    [InlineData("Json:Bogus", "1", "unknown configuration key Sources:s:Json:Bogus")]
    [InlineData("Json:FieldTypes:x", "double", "Sources:s:Json:FieldTypes:x = 'double'")]
    [InlineData("Json:FieldTypes:y", "float", "Sources:s:Json:FieldTypes:y = 'float': a type for a field that Fields does not have")]
    [InlineData("Json:TimeFormat", "unix_ms", "Sources:s:Json:TimeFormat = 'unix_ms': TimeFormat needs Time")]
    [InlineData("Json:Time", "ts", "Sources:s:Json:TimeFormat = '': Time needs its TimeFormat")]
    [InlineData("Json:MeasurementPath", "kind", "Sources:s:Json:MeasurementPath = 'kind': give Measurement or MeasurementPath, not both")]
    [InlineData("Json:Tags:time", "t", "Sources:s:Json:Tags:time = 't'")]
    [InlineData("Json:Fields:time", "t", "Sources:s:Json:Fields:time = 't'")]
    [InlineData("Json:Tags:x", "", "Sources:s:Json:Tags:x = '': cannot be empty")]
    public void Bad_mapping_keys_fail_at_start_naming_key_and_value(string key, string value, string expected)
    {
        var e = ConfigError(("Format", "json"), ("Json:Measurement", "m"), ("Json:Fields:x", "x"), (key, value));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_bad_time_format_lists_the_known_ones()
    {
        var e = ConfigError(("Format", "json"), ("Json:Measurement", "m"), ("Json:Fields:x", "x"), ("Json:Time", "t"), ("Json:TimeFormat", "epoch"));
        Assert.Equal("Sources:s:Json:TimeFormat", e.Key);
        Assert.Contains("unix_s, unix_ms, unix_us, unix_ns, rfc3339", e.Message);
    }

    [Fact]
    public void A_mapping_needs_a_measurement_and_a_field()
    {
        Assert.Equal("Sources:s:Json:Measurement", ConfigError(("Format", "json"), ("Json:Fields:x", "x")).Key);
        Assert.Equal("Sources:s:Json:Fields", ConfigError(("Format", "json"), ("Json:Measurement", "m")).Key);
        Assert.Equal("Sources:s:Json:Measurement", ConfigError(("Format", "json"), ("Json:Measurement", "#m"), ("Json:Fields:x", "x")).Key);
    }

    [Fact]
    public void A_Json_section_needs_Format_json()
    {
        Assert.Equal("Sources:s:Json", ConfigError(("Json:Measurement", "m")).Key);
    }

    [Theory]
    [InlineData("dc", "eu\\", "ends with a backslash")]
    [InlineData("time", "x", "not a tag key InfluxDB accepts")]
    [InlineData("dc", "", "a tag needs a key and a value")]
    public void Extra_tags_line_protocol_cannot_carry_fail_at_start(string key, string value, string why)
    {
        var e = Assert.Throws<ConfigurationError>(() => ExtraTags.Validate("Sources:s", new Dictionary<string, string> { [key] = value }));
        Assert.Equal($"Sources:s:Tags:{key}", e.Key);
        Assert.Contains(why, e.Message);
    }
}
