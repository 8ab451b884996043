using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>
/// Line-protocol payloads: the parser of the write endpoints, each line a point, bad lines counted. With extra
/// tags, the message is parsed into a batch of the decoder's own and each point copied into the target with the
/// tags merged into its sorted series key (no allocation per point).
/// </summary>
public sealed class LineProtocolDecoder : IPayloadDecoder
{
    private readonly LineProtocolParser _parser;
    private readonly Precision _precision;
    private readonly ExtraTags? _tags;
    private PointBatch? _scratch;

    public LineProtocolDecoder(LineProtocolParser parser, Precision precision) : this(parser, precision, null)
    {
    }

    internal LineProtocolDecoder(LineProtocolParser parser, Precision precision, ExtraTags? tags)
    {
        _parser = parser;
        _precision = precision;
        _tags = tags is { Count: > 0 } ? tags : null;
    }

    public DecodeResult Decode(in SourceMessage message, PointBatch batch)
    {
        if (_tags is null)
        {
            var summary = _parser.Parse(message.Payload.Span, _precision, message.ArrivalNanoseconds, batch);
            return new DecodeResult(summary.Points, summary.BadLines, summary.FirstError?.ToString());
        }
        var scratch = _scratch ??= new PointBatch();
        scratch.Clear();
        var parsed = _parser.Parse(message.Payload.Span, _precision, message.ArrivalNanoseconds, scratch);
        int points = 0, errors = parsed.BadLines;
        string? firstError = parsed.FirstError?.ToString();
        for (int i = 0; i < scratch.Count; i++)
        {
            if (_tags.CopyWithTags(scratch, i, batch))
            {
                points++;
                continue;
            }
            errors++;
            firstError ??= $"point {i + 1}: its series key with the source's tags is longer than {ExtraTags.MaxSeriesKeyLength} bytes";
        }
        return new DecodeResult(points, errors, firstError);
    }
}
