using System.Buffers;
using Ingest.LineProtocol;
using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

// The names in a snapshot: databases, field keys and series, each numbered densely in the order written, so
// that the windows refer to them by those numbers whatever ids they had in the table. Masks are not written: a
// restored catalog matches the names against the tiers configured now.
internal sealed partial class KeyCatalog
{
    /// <summary>Ids to snapshot numbers, valid between <see cref="WriteSnapshot"/> and <see cref="EndSnapshot"/>.</summary>
    public sealed class Numbering(int[] series, int[] fields)
    {
        public int[] Series { get; } = series;
        public int[] Fields { get; } = fields;
    }

    public Numbering WriteSnapshot(StateWriter writer)
    {
        writer.WriteVarint((ulong)_databases.Count);
        foreach (var name in _databases) writer.WriteString(name);
        var fields = WriteTable(writer, _fields, static (_, _) => { });
        var series = WriteTable(writer, Series, (w, id) =>
        {
            w.WriteVarint((ulong)Series.ScopeOf(id));
            w.WriteVarint((ulong)_measurementLengths[id]);
        });
        return new Numbering(series, fields);
    }

    public static void EndSnapshot(Numbering numbering)
    {
        ArrayPool<int>.Shared.Return(numbering.Series);
        ArrayPool<int>.Shared.Return(numbering.Fields);
    }

    private static int[] WriteTable(StateWriter writer, KeyTable table, Action<StateWriter, int> extra)
    {
        var numbers = ArrayPool<int>.Shared.Rent(Math.Max(1, table.IdLimit));
        writer.WriteVarint((ulong)table.Count);
        int next = 0;
        for (int id = 0; id < table.IdLimit; id++)
        {
            if (!table.IsLive(id)) continue;
            numbers[id] = next++;
            extra(writer, id);
            writer.WriteBytes(table.KeyOf(id));
        }
        return numbers;
    }

    /// <summary>
    /// Interns the names of a snapshot into this (empty) catalog; gives, by snapshot number, the series ids and
    /// the field ids (-1 for a field key no tier takes any more).
    /// </summary>
    public (int[] Series, int[] Fields) ReadSnapshot(StateReader reader)
    {
        int databases = reader.ReadCount(1 << 16, "database count");
        var databaseIds = new int[databases];
        for (int i = 0; i < databases; i++) databaseIds[i] = Database(reader.ReadString());

        int fieldCount = ReadTableCount(reader, "field key count");
        var fields = new int[fieldCount];
        for (int i = 0; i < fieldCount; i++)
        {
            var key = reader.ReadBytes();
            if (key.IsEmpty) throw new FormatException("snapshot: an empty field key");
            fields[i] = Field(key, out _);
        }

        int seriesCount = ReadTableCount(reader, "series count");
        var series = new int[seriesCount];
        for (int i = 0; i < seriesCount; i++)
        {
            int database = databaseIds[reader.ReadCount(databases, "series database")];
            int measurementLength = (int)Math.Min(int.MaxValue, reader.ReadVarint());
            var key = reader.ReadBytes();
            if (measurementLength == 0 || measurementLength > key.Length)
                throw new FormatException($"snapshot: series key of {key.Length} bytes with a measurement of {measurementLength}");
            series[i] = InternSeries(key, SeriesKeyHash.Compute(key), database, measurementLength, MeasurementMask(key[..measurementLength]));
        }
        return (series, fields);
    }

    /// <summary>Forgets the series of a snapshot that no restored window holds (their tier was not restored).</summary>
    public void ReleaseUnheld(int[] series)
    {
        foreach (int id in series)
        {
            if (_seriesRefs[id] == 0) Series.Remove(id);
        }
    }

    // Every entry takes at least two bytes, so a count beyond that is garbage, refused before anything is sized to it.
    private static int ReadTableCount(StateReader reader, string what) =>
        reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining / 2 + 1), what);
}
