using System.Text;
using Ingest.LineProtocol;
using Ingest.Sources.Decoding;
using static Ingest.Tests.Sources.DecodingRig;

namespace Ingest.Tests.Sources;

public class JsonDecoderTests
{
    private static readonly (string, string)[] Weather =
    [
        ("Json:Measurement", "weather"),
        ("Json:Tags:host", "host"),
        ("Json:Fields:temp", "temp"),
        ("Json:Time", "ts"),
        ("Json:TimeFormat", "unix_ms"),
    ];

    [Fact]
    public void One_object_is_one_point_with_its_measurement_tags_fields_and_time()
    {
        var d = Decode(Json(Weather), """{"host":"a","temp":21.5,"ts":1700000000000}""");
        Assert.Equal(new DecodeResult(1, 0, null), d.Result);
        Assert.Equal(["weather,host=a temp=21.5 1700000000000000000"], d.Lines);
    }

    [Fact]
    public void Measurement_path_takes_the_name_from_the_item()
    {
        var d = Decode(Json(("Json:MeasurementPath", "meta.kind"), ("Json:Fields:v", "v")), """{"meta":{"kind":"disk io"},"v":1}""");
        Assert.Equal([$"disk\\ io v=1 {Arrival}"], d.Lines);

        var missing = Decode(Json(("Json:MeasurementPath", "meta.kind"), ("Json:Fields:v", "v")), """{"v":1}""");
        Assert.Equal(new DecodeResult(0, 1, "item 0: measurement \"meta.kind\": found nothing"), missing.Result);
    }

    [Fact]
    public void Tags_are_sorted_missing_null_and_empty_ones_left_out_numbers_and_booleans_as_text()
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Tags:zone", "zone"), ("Json:Tags:alpha", "alpha"), ("Json:Tags:rack", "rack"),
                ("Json:Tags:gone", "nothere"), ("Json:Tags:nul", "n"), ("Json:Tags:empty", "e"), ("Json:Tags:up", "up"), ("Json:Fields:v", "v")),
            """{"zone":"eu 1","alpha":7,"rack":1.50,"n":null,"e":"","up":true,"v":2}""");
        Assert.Equal([$"m,alpha=7,rack=1.50,up=true,zone=eu\\ 1 v=2 {Arrival}"], d.Lines);
    }

    [Fact]
    public void Field_types_come_from_json_and_null_fields_are_left_out()
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Fields:f", "f"), ("Json:Fields:b", "b"), ("Json:Fields:s", "s"), ("Json:Fields:n", "n")),
            """{"f":3,"b":false,"s":"say \"hi\"\\ok","n":null}""");
        Assert.Equal([$"m b=false,f=3,s=\"say \\\"hi\\\"\\\\ok\" {Arrival}"], d.Lines);
    }

    [Fact]
    public void FieldTypes_convert_numbers_strings_and_booleans()
    {
        var payload = Json(("Json:Measurement", "m"),
            ("Json:Fields:i", "i"), ("Json:FieldTypes:i", "integer"),
            ("Json:Fields:i2", "i2"), ("Json:FieldTypes:i2", "integer"),
            ("Json:Fields:u", "u"), ("Json:FieldTypes:u", "unsigned"),
            ("Json:Fields:f", "f"), ("Json:FieldTypes:f", "float"),
            ("Json:Fields:s", "s"), ("Json:FieldTypes:s", "string"),
            ("Json:Fields:b", "b"), ("Json:FieldTypes:b", "boolean"));
        var d = Decode(payload, """{"i":"42","i2":21.0,"u":18446744073709551615,"f":"1.5","s":12.50,"b":"TRUE"}""");
        Assert.Equal(new DecodeResult(1, 0, null), d.Result);
        Assert.Equal([$"m b=true,f=1.5,i=42i,i2=21i,s=\"12.50\",u=18446744073709551615u {Arrival}"], d.Lines);
    }

    [Theory]
    [InlineData("float", "\"abc\"", "item 0: field \"x\": \"abc\" is not a number")]
    [InlineData("integer", "21.5", "item 0: field \"x\": 21.5 is not an integer")]
    [InlineData("unsigned", "-1", "item 0: field \"x\": -1 is not an unsigned integer")]
    [InlineData("boolean", "1", "item 0: field \"x\": 1 is not a boolean")]
    [InlineData("float", "true", "item 0: field \"x\": true is not a number")]
    [InlineData("string", "{\"a\":1}", "item 0: field \"x\": {\"a\":1} is not a field value")]
    public void A_value_that_does_not_convert_is_an_error_for_its_item(string type, string json, string error)
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Fields:x", "x"), ("Json:FieldTypes:x", type)), $$"""{"x":{{json}}}""");
        Assert.Equal(new DecodeResult(0, 1, error), d.Result);
        Assert.Equal(0, d.Batch.ByteLength);
    }

    [Fact]
    public void Unsigned_fields_are_integers_when_the_parser_writes_for_influxdb_1x()
    {
        var payload = Json(("Json:Measurement", "m"), ("Json:Fields:u", "u"), ("Json:FieldTypes:u", "unsigned"));
        var options = new ParserOptions { UnsignedAsInteger = true };
        Assert.Equal([$"m u=7i {Arrival}"], Decode(payload, """{"u":7}""", parserOptions: options).Lines);
        Assert.Equal(1, Decode(payload, """{"u":18446744073709551615}""", parserOptions: options).Result.Errors);
    }

    [Theory]
    [InlineData("unix_s", "1700000000", 1_700_000_000_000_000_000)]
    [InlineData("unix_s", "\"1700000000\"", 1_700_000_000_000_000_000)]
    [InlineData("unix_s", "1700000000.25", 1_700_000_000_250_000_000)]
    [InlineData("unix_ms", "1700000000123", 1_700_000_000_123_000_000)]
    [InlineData("unix_ms", "\"1700000000123\"", 1_700_000_000_123_000_000)]
    [InlineData("unix_us", "1700000000123456", 1_700_000_000_123_456_000)]
    [InlineData("unix_ns", "1700000000123456789", 1_700_000_000_123_456_789)]
    [InlineData("unix_ns", "-5", -5)]
    [InlineData("rfc3339", "\"2023-11-14T22:13:20Z\"", 1_700_000_000_000_000_000)]
    [InlineData("rfc3339", "\"2023-11-14T22:13:20.123456789Z\"", 1_700_000_000_123_456_789)]
    [InlineData("rfc3339", "\"2023-11-15T00:13:20.5+02:00\"", 1_700_000_000_500_000_000)]
    [InlineData("rfc3339", "\"2023-11-14 21:13:20-01:00\"", 1_700_000_000_000_000_000)]
    public void Each_time_format_gives_nanoseconds(string format, string json, long expected)
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Fields:v", "v"), ("Json:Time", "t"), ("Json:TimeFormat", format)), $$"""{"v":1,"t":{{json}}}""");
        Assert.Equal(new DecodeResult(1, 0, null), d.Result);
        Assert.Equal(expected, d.Batch.Points[0].Timestamp);
        Assert.EndsWith(" " + expected, d.Lines[0]);
    }

    [Theory]
    [InlineData("rfc3339", "\"2023-11-14\"", "is not an RFC 3339 time")]
    [InlineData("rfc3339", "\"2023-02-30T00:00:00Z\"", "is not an RFC 3339 time")]
    [InlineData("rfc3339", "1700000000", "is not an RFC 3339 time")]
    [InlineData("unix_s", "\"soon\"", "is not a number")]
    [InlineData("unix_s", "99999999999999999999", "out of InfluxDB's time range")]
    [InlineData("unix_ms", "null", "found nothing")]
    [InlineData("unix_ms", "[1]", "is not a time")]
    public void A_bad_time_is_an_error_for_its_item(string format, string json, string why)
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Fields:v", "v"), ("Json:Time", "t"), ("Json:TimeFormat", format)), $$"""{"v":1,"t":{{json}}}""");
        Assert.Equal(0, d.Result.Points);
        Assert.Equal(1, d.Result.Errors);
        Assert.StartsWith("item 0: time \"t\": ", d.Result.FirstError);
        Assert.Contains(why, d.Result.FirstError);
    }

    [Fact]
    public void Without_Time_points_get_the_arrival_time()
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Fields:v", "v")), """{"v":1}""");
        Assert.Equal(Arrival, d.Batch.Points[0].Timestamp);
    }

    [Fact]
    public void A_document_that_is_an_array_gives_a_point_per_element()
    {
        var d = Decode(Json(Weather), """[{"host":"a","temp":1,"ts":1},{"host":"b","temp":2,"ts":2}]""");
        Assert.Equal(["weather,host=a temp=1 1000000", "weather,host=b temp=2 2000000"], d.Lines);
    }

    [Fact]
    public void Items_picks_the_array_inside_the_document()
    {
        var payload = Json([.. Weather, ("Json:Items", "data.points")]);
        var d = Decode(payload, """{"data":{"points":[{"host":"a","temp":1,"ts":1},{"host":"b","temp":2,"ts":2}]}}""");
        Assert.Equal(2, d.Result.Points);

        Assert.Equal(1, Decode(payload, """{"data":{"points":{"host":"a","temp":1,"ts":1}}}""").Result.Points);
        Assert.Equal(new DecodeResult(0, 0, null), Decode(payload, """{"data":{"points":[]}}""").Result);
        Assert.Equal(new DecodeResult(0, 1, "Items \"data.points\": found nothing"), Decode(payload, """{"data":{}}""").Result);
        Assert.Equal(new DecodeResult(0, 1, "Items \"data.points\": 5 is not an array"), Decode(payload, """{"data":{"points":5}}""").Result);
    }

    [Fact]
    public void A_mixed_array_keeps_the_good_items_and_counts_the_bad()
    {
        var d = Decode(Json([.. Weather, ("Json:FieldTypes:temp", "float")]),
            """[{"host":"a","temp":1,"ts":1},{"host":"b","temp":"abc","ts":2},{"host":"c","ts":3},{"host":"d","temp":4,"ts":4},7]""");
        Assert.Equal(2, d.Result.Points);
        Assert.Equal(3, d.Result.Errors);
        Assert.Equal("item 1: field \"temp\": \"abc\" is not a number", d.Result.FirstError);
        Assert.Equal(["weather,host=a temp=1 1000000", "weather,host=d temp=4 4000000"], d.Lines);
    }

    [Fact]
    public void An_item_without_any_field_value_is_an_error()
    {
        var d = Decode(Json(Weather), """{"host":"a","ts":1}""");
        Assert.Equal(new DecodeResult(0, 1, "item 0: no field value (Fields: temp = temp)"), d.Result);
    }

    [Theory]
    [InlineData("{\"host\":")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("{\"a\":1}{\"b\":2}")]
    public void Malformed_json_is_one_error_for_the_whole_message(string message)
    {
        var d = Decode(Json(Weather), message);
        Assert.Equal(0, d.Result.Points);
        Assert.Equal(1, d.Result.Errors);
        Assert.StartsWith("malformed JSON: ", d.Result.FirstError);
    }

    [Fact]
    public void Invalid_utf8_never_reaches_the_batch()
    {
        byte[] message = [.. "{\"host\":\""u8, 0xC3, 0x28, .. "\",\"temp\":1,\"ts\":1}"u8];
        var d = Decode(Json(Weather), message);
        Assert.Equal(0, d.Result.Points);
        Assert.Equal(1, d.Result.Errors);
        Assert.Equal(0, d.Batch.ByteLength);
    }

    [Fact]
    public void At_subject_is_the_message_subject()
    {
        var payload = Json(("Json:Measurement", "m"), ("Json:Tags:subject", "@subject"), ("Json:Fields:v", "v"));
        Assert.Equal([$"m,subject=node.metrics.a\\ b v=1 {Arrival}"], Decode(payload, """{"v":1}""", subject: "node.metrics.a b").Lines);
        Assert.Equal([$"m v=1 {Arrival}"], Decode(payload, """{"v":1}""").Lines);

        var measured = Json(("Json:MeasurementPath", "@subject"), ("Json:Fields:v", "v"));
        Assert.Equal([$"sensors v=1 {Arrival}"], Decode(measured, """{"v":1}""", subject: "sensors").Lines);
    }

    [Fact]
    public void Simple_paths_reach_nested_keys_indexes_and_quoted_keys()
    {
        var payload = Json(("Json:Measurement", "m"), ("Json:Tags:t", "\"dev id\".name"), ("Json:Fields:a", "list[1].v"), ("Json:Fields:b", "[0]"),
            ("Json:Fields:c", "x.y.z"));
        var d = Decode(payload, """{"dev id":{"name":"s1"},"list":[{"v":1},{"v":2}],"x":{"y":{"z":"deep"}}}""");
        Assert.Equal([$"m,t=s1 a=2,c=\"deep\" {Arrival}"], d.Lines);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("a.b_2.C", true)]
    [InlineData("a[0].b[12]", true)]
    [InlineData("[3].x", true)]
    [InlineData("\"key with space\".x", true)]
    [InlineData("\"esc\\\"aped\"", true)]
    [InlineData("a[-1]", false)]
    [InlineData("a[*].b", false)]
    [InlineData("a || b", false)]
    [InlineData("length(a)", false)]
    [InlineData("a.", false)]
    [InlineData("2a", false)]
    public void Simple_paths_are_told_from_other_expressions(string text, bool simple)
    {
        Assert.Equal(simple, Ingest.Sources.Decoding.JsonExpression.TryParseSimplePath(text, out _));
    }

    [Fact]
    public void Other_JMESPath_expressions_go_through_JmesPath_Net()
    {
        var payload = Json(("Json:Measurement", "m"),
            ("Json:Items", "readings[?kind != 'skip']"),
            ("Json:Tags:id", "join('-', [site, to_string(unit)])"),
            ("Json:Fields:v", "values[-1]"),
            ("Json:Fields:n", "length(values)"));
        var d = Decode(payload, """{"readings":[{"kind":"t","site":"x","unit":3,"values":[1,2.5]},{"kind":"skip"},{"kind":"h","site":"y","unit":4,"values":[9]}]}""");
        Assert.Equal(new DecodeResult(2, 0, null), d.Result);
        Assert.Equal([$"m,id=x-3 n=2,v=2.5 {Arrival}", $"m,id=y-4 n=1,v=9 {Arrival}"], d.Lines);
    }

    [Fact]
    public void A_JMESPath_expression_that_fails_on_an_item_is_an_error_for_that_item()
    {
        var payload = Json(("Json:Measurement", "m"), ("Json:Fields:v", "abs(v)"));
        var d = Decode(payload, """[{"v":-2},{"v":"text"}]""");
        Assert.Equal(1, d.Result.Points);
        Assert.Equal(1, d.Result.Errors);
        Assert.StartsWith("item 1: ", d.Result.FirstError);
    }

    [Fact]
    public void Names_and_values_are_escaped_as_line_protocol_needs()
    {
        var payload = Json(("Json:Measurement", "my m,x"), ("Json:Tags:k=y", "t"), ("Json:Fields:f,1", "s"));
        var d = Decode(payload, """{"t":"a,b=c d","s":"line\nbreak \"q\""}""");
        Assert.Equal([$"my\\ m\\,x,k\\=y=a\\,b\\=c\\ d f\\,1=\"line\nbreak \\\"q\\\"\" {Arrival}"], d.Lines);
    }

    [Fact]
    public void A_tag_value_line_protocol_cannot_carry_is_an_error()
    {
        var d = Decode(Json(("Json:Measurement", "m"), ("Json:Tags:t", "t"), ("Json:Fields:v", "v")), """{"t":"two\nlines","v":1}""");
        Assert.Equal(1, d.Result.Errors);
        Assert.StartsWith("item 0: tag \"t\": ", d.Result.FirstError);
        Assert.Contains("line feed", d.Result.FirstError);
    }

    [Fact]
    public void Extra_tags_are_merged_sorted_and_the_point_own_tag_wins()
    {
        var payload = Json(("Json:Measurement", "m"), ("Json:Tags:host", "host"), ("Json:Tags:rack", "rack"), ("Json:Fields:v", "v"));
        var tags = new Dictionary<string, string> { ["zone"] = "z1", ["host"] = "fallback", ["dc"] = "eu 1" };
        var d = Decode(payload, """[{"host":"a","rack":"r","v":1},{"v":2}]""", tags: tags);
        Assert.Equal([$"m,dc=eu\\ 1,host=a,rack=r,zone=z1 v=1 {Arrival}", $"m,dc=eu\\ 1,host=fallback,zone=z1 v=2 {Arrival}"], d.Lines);
    }

    [Fact]
    public void Decoding_the_benchmark_message_allocates_almost_nothing()
    {
        var parser = new LineProtocolParser();
        var decoder = Ingest.Sources.Decoding.PayloadDecoders.Create(Json(Weather), new Dictionary<string, string>(), parser);
        var message = new Ingest.Sources.SourceMessage(Encoding.UTF8.GetBytes("""{"host":"a","temp":21.5,"ts":1700000000000}"""), Arrival);
        var batch = new PointBatch();
        for (int i = 0; i < 100; i++) decoder.Decode(message, batch);
        batch.Clear();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            decoder.Decode(message, batch);
            batch.Clear();
        }
        long perMessage = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
        // The parsed document's own object is all that is left (its tables come from the shared pool).
        Assert.True(perMessage <= 200, $"{perMessage} bytes allocated per message");
    }

    [Fact]
    public void The_README_example_decodes_as_documented()
    {
        var payload = Json(("Json:Items", "readings"), ("Json:Measurement", "weather"), ("Json:Tags:host", "station.id"), ("Json:Tags:subject", "@subject"),
            ("Json:Fields:temp", "temp"), ("Json:Fields:hum", "values[0]"), ("Json:Fields:raw", "join(',', flags)"), ("Json:FieldTypes:hum", "integer"),
            ("Json:Time", "ts"), ("Json:TimeFormat", "unix_ms"));
        var d = Decode(payload, """{"readings":[{"station":{"id":"a"},"temp":21.5,"values":[40],"flags":["x"],"ts":1700000000000}]}""",
            subject: "weather.a", tags: new() { ["dc"] = "eu1" });
        Assert.Equal(["weather,dc=eu1,host=a,subject=weather.a hum=40i,raw=\"x\",temp=21.5 1700000000000000000"], d.Lines);
    }
}
