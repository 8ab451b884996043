using System.Buffers;
using Ingest.LineProtocol;
using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

// The names in a snapshot: databases and field keys up front, numbered densely in the order written; series inline,
// each numbered the first time a window of it is written, so that the windows refer to them by those numbers
// whatever ids they have in the tables. Masks are not written: a restored catalog matches the names against the
// tiers configured then.
internal sealed partial class KeyCatalog
{
    /// <summary>Writes the databases and field keys; gives the field keys' numbers by id (a pooled array).</summary>
    public int[] WriteSnapshotNames(StateWriter writer)
    {
        writer.WriteVarint((ulong)_databases.Count);
        foreach (var name in _databases) writer.WriteString(name);
        var numbers = ArrayPool<int>.Shared.Rent(Math.Max(1, _fields.IdLimit));
        writer.WriteVarint((ulong)_fields.Count);
        int next = 0;
        for (int id = 0; id < _fields.IdLimit; id++)
        {
            if (!_fields.IsLive(id)) continue;
            numbers[id] = next++;
            writer.WriteBytes(_fields.KeyOf(id));
        }
        return numbers;
    }

    /// <summary>A series' first appearance in a snapshot: its database number, measurement length and key.</summary>
    public void WriteSnapshotSeries(StateWriter writer, int series)
    {
        writer.WriteVarint((ulong)Series.ScopeOf(series));
        writer.WriteVarint((ulong)_measurementLengths[series]);
        writer.WriteBytes(Series.KeyOf(series));
    }

    /// <summary>
    /// Interns the databases and field keys of a snapshot into this (empty) catalog; gives the database ids and the
    /// field ids by snapshot number (-1 for a field key no tier takes any more).
    /// </summary>
    public (int[] Databases, int[] Fields) ReadSnapshotNames(StateReader reader)
    {
        int databases = reader.ReadCount(1 << 16, "database count");
        var databaseIds = new int[databases];
        for (int i = 0; i < databases; i++) databaseIds[i] = Database(reader.ReadString());
        // Every entry takes at least two bytes: a larger count is garbage, refused before anything is sized to it.
        int fieldCount = reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining / 2 + 1), "field key count");
        var fields = new int[fieldCount];
        for (int i = 0; i < fieldCount; i++)
        {
            var key = reader.ReadBytes();
            if (key.IsEmpty) throw new FormatException("snapshot: an empty field key");
            fields[i] = Field(key, out _);
        }
        return (databaseIds, fields);
    }

    /// <summary>Interns a series written by <see cref="WriteSnapshotSeries"/>; gives its id.</summary>
    public int ReadSnapshotSeries(StateReader reader, int[] databases)
    {
        int database = databases[reader.ReadCount(databases.Length, "series database")];
        int measurementLength = (int)Math.Min(int.MaxValue, reader.ReadVarint());
        var key = reader.ReadBytes();
        if (measurementLength == 0 || measurementLength > key.Length)
            throw new FormatException($"snapshot: series key of {key.Length} bytes with a measurement of {measurementLength}");
        return InternSeries(key, SeriesKeyHash.Compute(key), database, measurementLength, MeasurementMask(key[..measurementLength]));
    }

    /// <summary>Forgets the series of a snapshot that no restored window holds (their tier was not restored).</summary>
    public void ReleaseUnheld(List<int> series)
    {
        foreach (int id in series)
        {
            if (_seriesRefs[id] == 0 && Series.IsLive(id)) Series.Remove(id); // (a garbled list may name one twice)
        }
    }
}
