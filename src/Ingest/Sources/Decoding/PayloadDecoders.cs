using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>Makes a source's decoder from its <see cref="PayloadOptions"/>.</summary>
public static class PayloadDecoders
{
    /// <param name="tags">The source's extra tags, added to every point that has no tag of the same key.</param>
    /// <exception cref="ArgumentException">A tag line protocol cannot carry (the configuration reader refuses those first).</exception>
    public static IPayloadDecoder Create(PayloadOptions payload, IReadOnlyDictionary<string, string> tags, LineProtocolParser parser)
    {
        var extra = ExtraTags.Create(tags);
        return payload.Format switch
        {
            PayloadFormat.LineProtocol => new LineProtocolDecoder(parser, payload.Precision, extra),
            PayloadFormat.Json => new JsonDecoder(payload.Json ?? throw new ArgumentException("a JSON payload needs its Json mapping", nameof(payload)), extra, parser.Options),
            _ => throw new NotSupportedException($"{payload.Format} payloads are not decoded"),
        };
    }
}
