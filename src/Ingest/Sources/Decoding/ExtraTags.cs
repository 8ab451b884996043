using System.Buffers;
using System.Text;
using Ingest.Configuration;
using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>
/// A source's <c>Tags</c>: added to every point that does not have a tag of the same key, escaped once at start
/// and sorted as the canonical series key sorts them (by the escaped key's bytes).
/// </summary>
internal sealed class ExtraTags
{
    /// <param name="Key">The escaped key.</param>
    /// <param name="Pair">The whole <c>,key=value</c>, escaped, ready to copy.</param>
    public readonly record struct Tag(byte[] Key, byte[] Pair);

    private ExtraTags(Tag[] tags)
    {
        Tags = tags;
        foreach (var t in tags) PairBytes += t.Pair.Length;
    }

    public Tag[] Tags { get; }

    /// <summary>Bytes of every <c>,key=value</c> together: the most a series key can grow by.</summary>
    public int PairBytes { get; }

    public int Count => Tags.Length;

    /// <summary>Escapes and sorts <paramref name="tags"/>; throws <see cref="ArgumentException"/> for one line protocol cannot carry.</summary>
    public static ExtraTags Create(IReadOnlyDictionary<string, string> tags)
    {
        var list = new List<Tag>(tags.Count);
        foreach (var (key, value) in tags)
        {
            if (key is "time" or "_field" or "_measurement")
                throw new ArgumentException($"'{key}' is not a tag key InfluxDB accepts");
            var w = new ArrayBufferWriter<byte>();
            LineProtocolWriter.WriteTagKey(w, key);
            var escapedKey = w.WrittenSpan.ToArray();
            w.Clear();
            LineProtocolWriter.WriteByte(w, (byte)',');
            LineProtocolWriter.WriteRaw(w, escapedKey);
            LineProtocolWriter.WriteByte(w, (byte)'=');
            LineProtocolWriter.WriteTagValue(w, value);
            list.Add(new Tag(escapedKey, w.WrittenSpan.ToArray()));
        }
        list.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        return new ExtraTags(list.ToArray());
    }

    /// <summary>Fails at start, naming <c>&lt;source&gt;:Tags:&lt;key&gt;</c>, on a tag that cannot be added to points.</summary>
    public static void Validate(string sourceKey, IReadOnlyDictionary<string, string> tags)
    {
        foreach (var (key, value) in tags)
        {
            if (key.Length == 0 || value.Length == 0)
                throw new ConfigurationError($"{sourceKey}:Tags:{key}", value, "a tag needs a key and a value");
            try
            {
                Create(new Dictionary<string, string> { [key] = value });
            }
            catch (ArgumentException e)
            {
                throw new ConfigurationError($"{sourceKey}:Tags:{key}", value, e.Message);
            }
        }
    }

    /// <summary>
    /// Copies point <paramref name="index"/> of <paramref name="source"/> (canonical) into <paramref name="target"/>
    /// with the extra tags merged into its sorted tags; its own tag of the same key wins. False (nothing written)
    /// when the series key would pass InfluxDB's 65535-byte limit. Allocates nothing.
    /// </summary>
    public bool CopyWithTags(PointBatch source, int index, PointBatch target)
    {
        var point = source.Points[index];
        int length = point.LineLength + PairBytes;
        var destination = target.GetSpan(length);
        // Read the source after growing the target: they are different batches, but keep the order safe anyway.
        var line = source.Line(index);
        var seriesKey = line.Slice(0, point.SeriesKeyLength);

        int measurementLength = Escaping.MeasurementLength(seriesKey);
        seriesKey.Slice(0, measurementLength).CopyTo(destination);
        int n = measurementLength;
        int pos = measurementLength; // at ',' of the next own tag, or the end
        int next = 0;
        var tags = Tags;
        while (pos < seriesKey.Length)
        {
            int keyStart = pos + 1;
            int keyEnd = IndexOfUnescaped(seriesKey, keyStart + 1, (byte)'=');
            // As the parser reads it, a value's first byte is literal: the next separator is searched after it.
            int end = IndexOfUnescaped(seriesKey, keyEnd + 2, (byte)',');
            if (end < 0) end = seriesKey.Length;
            var key = seriesKey.Slice(keyStart, keyEnd - keyStart);
            while (next < tags.Length)
            {
                int order = tags[next].Key.AsSpan().SequenceCompareTo(key);
                if (order > 0) break;
                if (order < 0)
                {
                    tags[next].Pair.CopyTo(destination.Slice(n));
                    n += tags[next].Pair.Length;
                }
                next++; // equal: the point's own tag wins
            }
            seriesKey.Slice(pos, end - pos).CopyTo(destination.Slice(n));
            n += end - pos;
            pos = end;
        }
        for (; next < tags.Length; next++)
        {
            tags[next].Pair.CopyTo(destination.Slice(n));
            n += tags[next].Pair.Length;
        }
        int seriesLength = n;
        if (seriesLength > MaxSeriesKeyLength) return false;
        // The rest of the line (" fields timestamp\n") is unchanged.
        var rest = line.Slice(point.SeriesKeyLength);
        rest.CopyTo(destination.Slice(n));
        n += rest.Length;

        ulong hash = SeriesKeyHash.Compute(destination.Slice(0, seriesLength));
        int offset = target.ByteLength;
        target.Advance(n);
        target.AddPoint(new PointRef(offset, n, seriesLength, point.FieldsLength, point.Timestamp, hash));
        return true;
    }

    /// <summary>InfluxDB's limit on a series key.</summary>
    public const int MaxSeriesKeyLength = 65535;

    private static int IndexOfUnescaped(ReadOnlySpan<byte> s, int from, byte stop)
    {
        while (from < s.Length)
        {
            int j = s.Slice(from).IndexOf(stop);
            if (j < 0) return -1;
            j += from;
            if (s[j - 1] != (byte)'\\') return j;
            from = j + 1;
        }
        return -1;
    }

    public override string ToString() => string.Join("", Tags.Select(t => Encoding.UTF8.GetString(t.Pair)));
}
