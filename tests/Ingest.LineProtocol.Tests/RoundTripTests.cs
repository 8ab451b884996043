using System.Buffers;
using System.Text;
using Ingest.Benchmarks;
using Ingest.LineProtocol.Tests.Conformance;
using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

/// <summary>parse → decode → write → parse gives the same points, and canonical output is a fixed point.</summary>
public class RoundTripTests
{
    public static IEnumerable<object[]> ValidCaseIds() =>
        ConformanceCases.Ids().Where(row => IsAccepted(ConformanceCases.Get((string)row[0])));

    private static bool IsAccepted(System.Text.Json.JsonElement testCase) =>
        testCase.GetProperty("valid").GetBoolean() && !ConformanceCases.Flag(testCase, "rejected_at_write");

    [Theory]
    [MemberData(nameof(ValidCaseIds))]
    public void Conformance_body_survives_decode_and_rewrite(string id)
    {
        var testCase = ConformanceCases.Get(id);
        AssertRoundTrip(testCase.GetProperty("line").GetString()!, ConformanceCases.PrecisionOf(testCase));
    }

    [Fact]
    public void Telegraf_body_survives_decode_and_rewrite()
    {
        AssertRoundTrip(Encoding.UTF8.GetString(TelegrafBody.Create(500)), Precision.Nanoseconds);
    }

    internal static void AssertRoundTrip(string body, Precision precision)
    {
        var (first, summary) = Lp.Parse(body, precision);
        Assert.Equal(0, summary.BadLines);
        var decoded = PointDecoder.DecodeAll(first);

        var written = new ArrayBufferWriter<byte>();
        foreach (var point in decoded) LineProtocolWriter.WritePoint(written, point);
        var second = new PointBatch();
        var secondSummary = new LineProtocolParser().Parse(written.WrittenSpan, Precision.Nanoseconds, 0, second);
        Assert.True(secondSummary.BadLines == 0, $"rewritten body did not parse: {secondSummary.FirstError}");
        Assert.Equal(decoded, PointDecoder.DecodeAll(second));

        // The canonical form is a fixed point: parsing it again gives the very same bytes and index.
        var third = new PointBatch();
        new LineProtocolParser().Parse(first.Data, Precision.Nanoseconds, 0, third);
        Assert.Equal(Lp.Text(first.Data), Lp.Text(third.Data));
        Assert.Equal(first.Points.ToArray(), third.Points.ToArray());
    }

    [Fact]
    public void TryParseLine_decodes_a_raw_line_or_explains_why_not()
    {
        Assert.True(PointDecoder.TryParseLine("cpu,b=2,a=1 v=1i 3"u8, Precision.Seconds, 0, out var point, out var error));
        Assert.Null(error);
        Assert.Equal(new DecodedPoint("cpu", [new("a", "1"), new("b", "2")], [new("v", FieldValue.FromInteger(1))], 3_000_000_000), point);

        Assert.False(PointDecoder.TryParseLine("cpu"u8, Precision.Nanoseconds, 0, out point, out error));
        Assert.Null(point);
        Assert.Equal("missing fields", error!.Reason);
    }
}
