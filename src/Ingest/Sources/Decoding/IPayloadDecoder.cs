using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>
/// Turns a source's message into points. Made once per source from its <see cref="PayloadOptions"/> and used by
/// one stream at a time (not thread-safe unless it says so). A payload that is partly bad gives its good points
/// and counts the bad items; it never throws for bad input.
/// </summary>
public interface IPayloadDecoder
{
    /// <summary>Appends the points of <paramref name="message"/> to <paramref name="batch"/>.</summary>
    DecodeResult Decode(in SourceMessage message, PointBatch batch);
}

/// <summary>What one decode gave: points appended, items that could not be decoded, and why the first failed.</summary>
public readonly record struct DecodeResult(int Points, int Errors, string? FirstError);
