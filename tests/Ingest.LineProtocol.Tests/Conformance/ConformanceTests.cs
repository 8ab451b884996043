using System.Text;
using System.Text.Json;

namespace Ingest.LineProtocol.Tests.Conformance;

/// <summary>
/// Every case of lineprotocol_cases.json, checked against InfluxDB's primary parser (2.x models; 1.x for
/// precision m/h). Points are compared after decoding the canonical output, which also proves that the
/// canonical form parses back.
/// </summary>
public class ConformanceTests
{
    private const long Now = 1_700_000_000_123_456_789;

    public static IEnumerable<object[]> CaseIds() => ConformanceCases.Ids();

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Case_matches_primary_InfluxDB_parser(string id)
    {
        var testCase = ConformanceCases.Get(id);
        var precision = ConformanceCases.PrecisionOf(testCase);
        long now = testCase.TryGetProperty("default_time", out var defaultTime) ? defaultTime.GetInt64() : Now;
        long unit = precision.NanosecondsPerUnit();
        long expectedDefaultTimestamp = testCase.TryGetProperty("expected_timestamp_if_default_time_used", out var e)
            ? e.GetInt64()
            : now - now % unit;

        var batch = new PointBatch();
        var summary = new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(testCase.GetProperty("line").GetString()!), precision, now, batch);
        var decoded = PointDecoder.DecodeAll(batch);

        bool valid = testCase.GetProperty("valid").GetBoolean();
        // Deliberate: InfluxDB parses these but refuses them at write time; we refuse them at ingest so that an
        // acknowledged point is always storable (field-key-time-only).
        if (ConformanceCases.Flag(testCase, "rejected_at_write") && valid) valid = false;

        if (valid)
        {
            Assert.True(summary.BadLines == 0, $"unexpected error: {summary.FirstError}");
            Assert.Empty(summary.Errors);
            if (testCase.TryGetProperty("points", out var points))
            {
                AssertPoints(points, decoded, expectedDefaultTimestamp);
            }
            else
            {
                var only = Assert.Single(decoded);
                AssertPoint(testCase, only, expectedDefaultTimestamp);
            }
            Assert.Equal(decoded.Count, summary.Points);
        }
        else
        {
            Assert.True(summary.BadLines > 0, "expected the body to be rejected");
            Assert.NotNull(summary.FirstError);
            Assert.False(string.IsNullOrEmpty(summary.FirstError!.Reason));
            if (testCase.TryGetProperty("points_parsed_despite_error", out var survivors))
                AssertPoints(survivors, decoded, expectedDefaultTimestamp);
            else
                Assert.Empty(decoded);
        }

        if (testCase.TryGetProperty("field_keys_in_order", out var order) && decoded.Count > 0)
            Assert.Equal(order.EnumerateArray().Select(k => k.GetString()), decoded[0].Fields.Select(f => f.Key));
    }

    private static void AssertPoints(JsonElement expected, List<DecodedPoint> actual, long defaultTimestamp)
    {
        Assert.Equal(expected.GetArrayLength(), actual.Count);
        int i = 0;
        foreach (var point in expected.EnumerateArray()) AssertPoint(point, actual[i++], defaultTimestamp);
    }

    private static void AssertPoint(JsonElement expected, DecodedPoint actual, long defaultTimestamp)
    {
        Assert.Equal(expected.GetProperty("measurement").GetString(), actual.Measurement);

        var expectedTags = expected.GetProperty("tags").EnumerateObject()
            .Select(t => (t.Name, t.Value.GetString()!)).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var actualTags = actual.Tags.Select(t => (t.Key, t.Value)).OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(expectedTags, actualTags);

        // InfluxDB keeps the last of duplicate field keys; we keep them all in order, so compare the last.
        var lastWins = new Dictionary<string, FieldValue>();
        foreach (var field in actual.Fields) lastWins[field.Key] = field.Value;
        var expectedFields = expected.GetProperty("fields").EnumerateObject().ToList();
        Assert.Equal(expectedFields.Select(f => f.Name).Order(StringComparer.Ordinal), lastWins.Keys.Order(StringComparer.Ordinal));
        foreach (var field in expectedFields)
            AssertField(field.Name, field.Value, lastWins[field.Name]);

        var timestamp = expected.GetProperty("timestamp");
        long expectedTimestamp = timestamp.ValueKind == JsonValueKind.Null ? defaultTimestamp : timestamp.GetInt64();
        Assert.Equal(expectedTimestamp, actual.Timestamp);
    }

    private static void AssertField(string name, JsonElement expected, FieldValue actual)
    {
        var value = expected.GetProperty("value");
        switch (expected.GetProperty("type").GetString())
        {
            case "float":
                Assert.Equal(FieldType.Float, actual.Type);
                Assert.Equal(value.GetDouble(), actual.Float);
                break;
            case "int":
                Assert.Equal(FieldType.Integer, actual.Type);
                Assert.Equal(value.GetInt64(), actual.Integer);
                break;
            case "uint":
                Assert.Equal(FieldType.Unsigned, actual.Type);
                Assert.Equal(value.GetUInt64(), actual.Unsigned);
                break;
            case "string":
                Assert.Equal(FieldType.String, actual.Type);
                Assert.Equal(value.GetString(), actual.String);
                break;
            case "bool":
                Assert.Equal(FieldType.Boolean, actual.Type);
                Assert.Equal(value.GetBoolean(), actual.Boolean);
                break;
            default:
                Assert.Fail($"field {name}: unknown type in the case file");
                break;
        }
    }
}
