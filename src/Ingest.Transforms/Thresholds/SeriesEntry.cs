using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// A series of one database seen once, with the states of the rules it matched (possibly none: caching "no
/// match" is what keeps a known series from being decoded again). Built on the first point, read-only
/// afterwards but for <see cref="RetentionPolicy"/>.
/// </summary>
/// <remarks>
/// The same series key written to two databases is two series, as InfluxDB keeps them: each has its own
/// states, so <c>cpu,host=a</c> in <c>prod</c> and in <c>staging</c> do not share an alert.
/// </remarks>
internal sealed class SeriesEntry
{
    public SeriesEntry(byte[] key, ulong hash, string database, string keyText, string measurement, IReadOnlyList<DecodedTag> tags)
    {
        Key = key;
        Database = database;
        Hash = hash;
        KeyText = keyText;
        Measurement = measurement;
        Tags = tags;
    }

    public byte[] Key { get; }
    public ulong Hash { get; }
    public string Database { get; }

    /// <summary>The retention policy the series' last evaluated point was written with: where its events go.</summary>
    public string RetentionPolicy { get; set; } = "";
    public string KeyText { get; }
    public string Measurement { get; }
    public IReadOnlyList<DecodedTag> Tags { get; }

    /// <summary>Indices into the engine's state array, in rule order.</summary>
    public int[] States { get; set; } = [];

    /// <summary>Next entry with the same 64-bit hash, or null (collisions are possible, if rare).</summary>
    public SeriesEntry? NextSameHash { get; set; }
}
