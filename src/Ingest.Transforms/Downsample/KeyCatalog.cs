using Ingest.Transforms;
using System.Buffers;
using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// The interned names every tier shares: series (per database), field keys and measurements, each with the
/// bit mask of tiers whose patterns it matches, so that glob matching runs once per new name, not per point.
/// </summary>
internal sealed partial class KeyCatalog
{
    // Field keys and measurements are few and are never evicted; past this many, new ones are matched
    // each time instead of cached, so hostile cardinality costs time, not memory.
    private const int MaxCachedNames = 100_000;

    private readonly IReadOnlyList<string>[] _measurementPatterns;
    private readonly IReadOnlyList<string>[] _fieldPatterns;
    private readonly KeyTable _measurements = new();
    private ulong[] _measurementMasks = new ulong[256];
    private readonly KeyTable _fields = new();
    private ulong[] _fieldMasks = new ulong[256];
    private readonly List<string> _databases = [];
    private int[] _seriesRefs = new int[1024];
    private int[] _measurementLengths = new int[1024];
    private ulong[] _seriesMasks = new ulong[1024];

    public KeyCatalog(IReadOnlyList<string>[] measurementPatterns, IReadOnlyList<string>[] fieldPatterns)
    {
        _measurementPatterns = measurementPatterns;
        _fieldPatterns = fieldPatterns;
    }

    public KeyTable Series { get; } = new();
    public KeyTable Fields => _fields;

    public long EstimatedBytes => Series.EstimatedBytes + _seriesRefs.Length * 16L + _fields.EstimatedBytes + _measurements.EstimatedBytes;

    public int Database(string name)
    {
        for (int i = 0; i < _databases.Count; i++)
        {
            if (_databases[i] == name) return i;
        }
        _databases.Add(name);
        return _databases.Count - 1;
    }

    public string DatabaseName(int index) => _databases[index];


    public int MeasurementLengthOf(int series) => _measurementLengths[series];

    public ulong MeasurementMask(ReadOnlySpan<byte> measurement)
    {
        ulong hash = SeriesKeyHash.Compute(measurement);
        if (_measurements.Count >= MaxCachedNames)
            return Match(measurement, EscapeKind.Measurement, _measurementPatterns);
        int id = _measurements.FindOrAdd(measurement, hash, 0, out bool added);
        if (added)
        {
            EnsureLength(ref _measurementMasks, id);
            _measurementMasks[id] = Match(measurement, EscapeKind.Measurement, _measurementPatterns);
        }
        return _measurementMasks[id];
    }

    /// <summary>The field's id and the tiers taking it; -1 (with mask 0) for an untaken key past <see cref="MaxCachedNames"/>.</summary>
    public int Field(ReadOnlySpan<byte> key, out ulong mask)
    {
        ulong hash = SeriesKeyHash.Compute(key);
        int id;
        if (_fields.Count >= MaxCachedNames)
        {
            // Past the cap only keys that some tier takes are added (their states need an id); others are matched each time.
            mask = Match(key, EscapeKind.Key, _fieldPatterns);
            if (mask == 0) return -1;
        }
        id = _fields.FindOrAdd(key, hash, 0, out bool added);
        if (added)
        {
            EnsureLength(ref _fieldMasks, id);
            _fieldMasks[id] = Match(key, EscapeKind.Key, _fieldPatterns);
        }
        mask = _fieldMasks[id];
        return id;
    }

    /// <summary>
    /// Interns a series (scoped by database). It stays interned while any tier holds a window of it: each new
    /// window calls <see cref="AddRef"/> and each closed one <see cref="Release"/>.
    /// </summary>
    public int InternSeries(ReadOnlySpan<byte> seriesKey, ulong hash, int database, int measurementLength, ulong measurementMask)
    {
        int id = Series.FindOrAdd(seriesKey, hash, database, out bool added);
        if (added)
        {
            EnsureLength(ref _seriesRefs, id);
            EnsureLength(ref _measurementLengths, id);
            EnsureLength(ref _seriesMasks, id);
            _seriesRefs[id] = 0;
            _measurementLengths[id] = measurementLength;
            _seriesMasks[id] = measurementMask;
        }
        return id;
    }

    /// <summary>Tiers whose measurement patterns take this series.</summary>
    public ulong SeriesMask(int series) => _seriesMasks[series];

    public ulong FieldMask(int field) => _fieldMasks[field];

    public void AddRef(int series) => _seriesRefs[series]++;

    /// <summary>Windows (over all tiers) that hold the series.</summary>
    public int RefsOf(int series) => _seriesRefs[series];

    public void Release(int series)
    {
        if (--_seriesRefs[series] == 0) Series.Remove(series);
    }

    private static void EnsureLength<T>(ref T[] array, int index)
    {
        if (index >= array.Length) Array.Resize(ref array, Math.Max(array.Length * 2, index + 1));
    }

    private static ulong Match(ReadOnlySpan<byte> escaped, EscapeKind kind, IReadOnlyList<string>[] patterns)
    {
        byte[]? rentedBytes = null;
        char[]? rentedChars = null;
        Span<byte> bytes = escaped.Length <= 256 ? stackalloc byte[256] : (rentedBytes = ArrayPool<byte>.Shared.Rent(escaped.Length));
        int n = Escaping.Unescape(escaped, kind, bytes);
        Span<char> chars = n <= 256 ? stackalloc char[256] : (rentedChars = ArrayPool<char>.Shared.Rent(n));
        int length = Encoding.UTF8.GetChars(bytes.Slice(0, n), chars);
        ReadOnlySpan<char> name = chars.Slice(0, length);
        ulong mask = 0;
        for (int t = 0; t < patterns.Length; t++)
        {
            if (Glob.IsMatchAny(patterns[t], name)) mask |= 1UL << t;
        }
        if (rentedBytes is not null) ArrayPool<byte>.Shared.Return(rentedBytes);
        if (rentedChars is not null) ArrayPool<char>.Shared.Return(rentedChars);
        return mask;
    }
}
