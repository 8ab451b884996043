using System.Buffers;
using System.Text;

namespace Ingest.LineProtocol.Tests.Support;

/// <summary>Small helpers so that tests read as line protocol in, points or errors out.</summary>
internal static class Lp
{
    public const long Now = 1_700_000_000_123_456_789;

    public static (PointBatch Batch, ParseSummary Summary) Parse(string body, Precision precision = Precision.Nanoseconds,
        ParserOptions? options = null, long now = Now)
    {
        var batch = new PointBatch();
        var summary = new LineProtocolParser(options).Parse(Encoding.UTF8.GetBytes(body), precision, now, batch);
        return (batch, summary);
    }

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>The canonical output of a body that must parse without errors.</summary>
    public static string Canonical(string body, Precision precision = Precision.Nanoseconds, ParserOptions? options = null)
    {
        var (batch, summary) = Parse(body, precision, options);
        Assert.True(summary.BadLines == 0, $"unexpected error: {summary.FirstError}");
        return Text(batch.Data);
    }

    public static DecodedPoint Single(string body, Precision precision = Precision.Nanoseconds)
    {
        var (batch, summary) = Parse(body, precision);
        Assert.True(summary.BadLines == 0, $"unexpected error: {summary.FirstError}");
        Assert.Equal(1, batch.Count);
        return PointDecoder.Decode(batch, 0);
    }

    public static LineError SingleError(string body, Precision precision = Precision.Nanoseconds, ParserOptions? options = null)
    {
        var (batch, summary) = Parse(body, precision, options);
        Assert.Equal(0, batch.Count);
        Assert.Equal(0, batch.ByteLength);
        Assert.Equal(1, summary.BadLines);
        return Assert.Single(summary.Errors);
    }

    public static string Write(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return Text(buffer.WrittenSpan);
    }
}
