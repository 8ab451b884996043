using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>Makes a source's decoder from its <see cref="PayloadOptions"/>.</summary>
public static class PayloadDecoders
{
    /// <param name="tags">The source's extra tags, added to every point.</param>
    public static IPayloadDecoder Create(PayloadOptions payload, IReadOnlyDictionary<string, string> tags, LineProtocolParser parser)
    {
        if (tags.Count > 0) throw new NotSupportedException("extra tags are not added yet");
        return payload.Format switch
        {
            PayloadFormat.LineProtocol => new LineProtocolDecoder(parser, payload.Precision),
            _ => throw new NotSupportedException($"{payload.Format} payloads are not decoded yet"),
        };
    }
}
