using System.Text;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sources;
using Ingest.Sources.Decoding;
using Microsoft.Extensions.Configuration;

namespace Ingest.Tests.Sources;

/// <summary>Reads a source's payload keys from in-memory configuration and decodes messages with them.</summary>
internal static class DecodingRig
{
    public const long Arrival = 1_700_000_000_123_456_789;

    /// <summary><paramref name="pairs"/> are keys under <c>Sources:s</c> (e.g. <c>Json:Fields:temp</c>).</summary>
    public static PayloadOptions Payload(params (string Key, string Value)[] pairs)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(pairs.Select(p => KeyValuePair.Create("Sources:s:" + p.Key, (string?)p.Value)))
            .Build();
        var r = new SectionReader(configuration, "Sources:s");
        var payload = PayloadOptions.Read(r);
        r.RejectUnknownKeys();
        return payload;
    }

    public static PayloadOptions Json(params (string Key, string Value)[] pairs) =>
        Payload([("Format", "json"), .. pairs]);

    public static ConfigurationError ConfigError(params (string Key, string Value)[] pairs) =>
        Assert.Throws<ConfigurationError>(() => Payload(pairs));

    public sealed record Decoded(DecodeResult Result, string[] Lines, PointBatch Batch);

    public static Decoded Decode(PayloadOptions payload, string message, string? subject = null,
        Dictionary<string, string>? tags = null, ParserOptions? parserOptions = null) =>
        Decode(payload, Encoding.UTF8.GetBytes(message), subject, tags, parserOptions);

    public static Decoded Decode(PayloadOptions payload, byte[] message, string? subject = null,
        Dictionary<string, string>? tags = null, ParserOptions? parserOptions = null)
    {
        var parser = new LineProtocolParser(parserOptions);
        var decoder = PayloadDecoders.Create(payload, tags ?? new Dictionary<string, string>(), parser);
        var batch = new PointBatch();
        // Something already in the batch: the decoder appends, and a bad item must not eat what was there.
        batch.Clear();
        var result = decoder.Decode(new SourceMessage(message, Arrival, subject), batch);
        Assert.Equal(result.Points, batch.Count);
        AssertCanonical(batch, parser);
        var lines = Enumerable.Range(0, batch.Count).Select(i => Encoding.UTF8.GetString(batch.Line(i)).TrimEnd('\n')).ToArray();
        return new Decoded(result, lines, batch);
    }

    /// <summary>
    /// What the decoder wrote is exactly what the project's parser makes of it (canonical form: sorted tags,
    /// escaping, nanosecond timestamps), point by point with the same offsets, lengths, times and hashes.
    /// </summary>
    public static void AssertCanonical(PointBatch batch, LineProtocolParser parser)
    {
        var reparsed = new PointBatch();
        var summary = parser.Parse(batch.Data, Precision.Nanoseconds, 0, reparsed);
        Assert.True(summary.BadLines == 0, summary.FirstError?.ToString());
        Assert.Equal(Encoding.UTF8.GetString(batch.Data), Encoding.UTF8.GetString(reparsed.Data));
        Assert.Equal(reparsed.Points.ToArray(), batch.Points.ToArray());
    }
}
