using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>Line-protocol payloads: the parser of the write endpoints, each line a point, bad lines counted.</summary>
public sealed class LineProtocolDecoder(LineProtocolParser parser, Precision precision) : IPayloadDecoder
{
    public DecodeResult Decode(in SourceMessage message, PointBatch batch)
    {
        var summary = parser.Parse(message.Payload.Span, precision, message.ArrivalNanoseconds, batch);
        return new DecodeResult(summary.Points, summary.BadLines, summary.FirstError?.ToString());
    }
}
