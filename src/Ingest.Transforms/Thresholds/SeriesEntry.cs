using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// A series seen once, with the states of the rules it matched (possibly none: caching "no match" is what
/// keeps a known series from being decoded again). Built on the first point, read-only afterwards.
/// </summary>
internal sealed class SeriesEntry
{
    public SeriesEntry(byte[] key, ulong hash, string keyText, string measurement, IReadOnlyList<DecodedTag> tags)
    {
        Key = key;
        Hash = hash;
        KeyText = keyText;
        Measurement = measurement;
        Tags = tags;
    }

    public byte[] Key { get; }
    public ulong Hash { get; }
    public string KeyText { get; }
    public string Measurement { get; }
    public IReadOnlyList<DecodedTag> Tags { get; }

    /// <summary>Indices into the engine's state array, in rule order.</summary>
    public int[] States { get; set; } = [];

    /// <summary>Next entry with the same 64-bit hash, or null (collisions are possible, if rare).</summary>
    public SeriesEntry? NextSameHash { get; set; }
}
