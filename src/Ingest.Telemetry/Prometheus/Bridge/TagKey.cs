namespace Ingest.Telemetry.Prometheus.Bridge;

/// <summary>
/// The tags of one measurement, in the order the caller passed them. Lookups use the
/// <see cref="TagKeyComparer"/> alternate comparer over the callback's tag span, so a key is only
/// materialised (copied) the first time a combination is seen.
/// </summary>
internal sealed class TagKey
{
    public TagKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        Tags = tags.ToArray();
        Hash = TagKeyComparer.HashOf(tags);
    }

    public KeyValuePair<string, object?>[] Tags { get; }

    public int Hash { get; }

    /// <summary>The series this key resolved to; set before the key is published.</summary>
    public Series? Series { get; set; }

    /// <summary>
    /// True when every key and value is the very same object as in <paramref name="tags"/>. Callers usually
    /// pass the same string constants or cached tag values, so this beats hashing strings on the hot path;
    /// a false negative only means a dictionary lookup.
    /// </summary>
    public bool IsSameInstance(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var own = Tags;
        if (own.Length != tags.Length) return false;
        for (int i = 0; i < own.Length; i++)
        {
            if (!ReferenceEquals(own[i].Key, tags[i].Key) || !ReferenceEquals(own[i].Value, tags[i].Value)) return false;
        }
        return true;
    }
}

internal sealed class TagKeyComparer :
    IEqualityComparer<TagKey>,
    IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, TagKey>
{
    public static readonly TagKeyComparer Instance = new();

    /// <summary>
    /// Hashes the values only: an instrument is normally recorded with one fixed set of keys, so hashing
    /// them would double the string hashing on the hot path without separating any series.
    /// </summary>
    public static int HashOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var hash = new HashCode();
        hash.Add(tags.Length);
        foreach (ref readonly var tag in tags) hash.Add(tag.Value?.GetHashCode() ?? 0);
        return hash.ToHashCode();
    }

    public bool Equals(TagKey? x, TagKey? y) =>
        ReferenceEquals(x, y) || (x is not null && y is not null && x.Hash == y.Hash && Equals(x.Tags, y));

    public int GetHashCode(TagKey obj) => obj.Hash;

    public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> alternate, TagKey other)
    {
        var tags = other.Tags;
        if (alternate.Length != tags.Length) return false;
        for (int i = 0; i < tags.Length; i++)
        {
            if (!string.Equals(alternate[i].Key, tags[i].Key, StringComparison.Ordinal)
                || !object.Equals(alternate[i].Value, tags[i].Value))
                return false;
        }
        return true;
    }

    public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => HashOf(alternate);

    public TagKey Create(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => new(alternate);
}
