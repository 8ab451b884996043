using System.Collections.Concurrent;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Pipeline;

namespace Ingest.Live;

/// <summary>The latest value of one field and the event time it was given at (ns).</summary>
/// <param name="Value">As text: floats as written, integers without their <c>i</c>/<c>u</c> suffix,
/// <c>true</c>/<c>false</c>, strings unescaped.</param>
public readonly record struct LiveField(string Value, FieldType Type, long Timestamp);

/// <summary>One series as last published by <see cref="LiveStateTransform.TakeDirty"/>; immutable.</summary>
/// <param name="Id"><c>{db}:{seriesKey}</c>, the member of the Redis index.</param>
/// <param name="UpdatedMs">Wall-clock Unix time (ms) of the last point received for the series.</param>
public sealed record LiveSeries(
    string Id,
    string Database,
    string SeriesKey,
    string Measurement,
    IReadOnlyList<KeyValuePair<string, string>> Tags,
    IReadOnlyDictionary<string, LiveField> Fields,
    long UpdatedMs)
{
    /// <summary>The Redis hash holding the series: <c>ingest:live:{db}:{seriesKey}</c>.</summary>
    public string RedisKey => LiveStateTransform.KeyPrefix + Id;
}

/// <summary>
/// Keeps the latest value and event time of every field of every series, as a pipeline transform (it derives
/// nothing). <see cref="Process"/> runs on the runner thread and does not allocate once a series and its fields
/// are known; changed series are marked dirty, once each however often they change, and
/// <see cref="TakeDirty"/> (the writer, every flush interval) turns them into immutable
/// <see cref="LiveSeries"/>, published for <see cref="Snapshot"/> and handed on to Redis.
/// </summary>
public sealed class LiveStateTransform : ITransformStage
{
    public const string KeyPrefix = "ingest:live:";

    private readonly object _sync = new();
    private readonly Dictionary<ulong, Series> _index = new();
    private readonly List<Series> _dirty = new();
    private readonly List<string> _databases = new();
    private readonly ConcurrentDictionary<string, LiveSeries> _published = new(StringComparer.Ordinal);
    private readonly LiveOptions _options;
    private readonly string _defaultDatabase;
    private readonly StageStats? _stats;
    private int _count;
    private long _untracked;

    public LiveStateTransform(LiveOptions options, string defaultDatabase, StageStats? stats = null)
    {
        _options = options;
        _defaultDatabase = defaultDatabase;
        _stats = stats;
    }

    public string Name => "live";

    public LiveOptions Options => _options;

    /// <summary>Series tracked now.</summary>
    public int SeriesCount => Volatile.Read(ref _count);

    /// <summary>Points not tracked because <see cref="LiveOptions.MaxSeries"/> was reached.</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>Wall clock in Unix ms; replaceable for tests.</summary>
    public Func<long> Clock { get; init; } = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Process(PointBatch input, ITransformOutput output)
    {
        _stats?.AddReceived(input.Count);
        var now = Clock();
        lock (_sync)
        {
            var db = DatabaseIndex(input.Database.Length == 0 ? _defaultDatabase : input.Database);
            var points = input.Points;
            long untracked = 0;
            for (var i = 0; i < points.Length; i++)
            {
                var p = points[i];
                var series = FindOrAdd(p.SeriesHash, db, input.SeriesKey(i));
                if (series is null)
                {
                    untracked++;
                    continue;
                }
                foreach (var field in new FieldEnumerator(input.Fields(i)))
                {
                    var slot = series.Field(field.Key);
                    // Newer event time wins; at the same time the later arrival does.
                    if (p.Timestamp >= slot.Timestamp) slot.Set(field.RawValue, field.Type, p.Timestamp);
                }
                series.UpdatedMs = now;
                if (!series.Dirty)
                {
                    series.Dirty = true;
                    _dirty.Add(series);
                }
            }
            if (untracked > 0)
            {
                Interlocked.Add(ref _untracked, untracked);
                _stats?.AddDropped("untracked", untracked);
            }
        }
    }

    public void Flush(ITransformOutput output)
    {
    }

    /// <summary>Series marked dirty now (for tests and diagnostics).</summary>
    public int DirtyCount
    {
        get { lock (_sync) return _dirty.Count; }
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> dirty series, publishes them for <see cref="Snapshot"/> and adds them to
    /// <paramref name="into"/>; returns how many were taken.
    /// </summary>
    public int TakeDirty(List<LiveSeries> into, int max = int.MaxValue)
    {
        lock (_sync)
        {
            var n = Math.Min(max, _dirty.Count);
            // From the end: taking a chunk leaves the rest in place.
            for (var i = _dirty.Count - n; i < _dirty.Count; i++)
            {
                var s = _dirty[i];
                s.Dirty = false;
                var published = s.Publish(_databases[s.Database]);
                _published[published.Id] = published;
                into.Add(published);
            }
            _dirty.RemoveRange(_dirty.Count - n, n);
            return n;
        }
    }

    /// <summary>Every published series (for a full rewrite), stale ones (older than the expiry) left out.</summary>
    public List<LiveSeries> AllPublished(long nowMs)
    {
        var expiry = (long)_options.Expiry.TotalMilliseconds;
        return _published.Values.Where(s => expiry == 0 || nowMs - s.UpdatedMs < expiry).ToList();
    }

    /// <summary>
    /// Forgets the series not updated for the expiry (memory and published copy; Redis expires them itself).
    /// Returns how many were removed.
    /// </summary>
    public int Prune(long nowMs)
    {
        var expiry = (long)_options.Expiry.TotalMilliseconds;
        if (expiry == 0) return 0;
        lock (_sync)
        {
            var removed = 0;
            List<(ulong Slot, Series Series)>? stale = null;
            foreach (var (slot, head) in _index)
                for (var s = head; s is not null; s = s.Next)
                    if (!s.Dirty && nowMs - s.UpdatedMs >= expiry) (stale ??= new()).Add((slot, s));
            if (stale is null) return 0;
            foreach (var (slot, s) in stale)
            {
                var head = _index[slot];
                if (head == s)
                {
                    if (s.Next is null) _index.Remove(slot);
                    else _index[slot] = s.Next;
                }
                else
                {
                    var prev = head;
                    while (prev.Next != s) prev = prev.Next!;
                    prev.Next = s.Next;
                }
                if (s.PublishedId is { } id) _published.TryRemove(id, out _);
                removed++;
            }
            Volatile.Write(ref _count, _count - removed);
            return removed;
        }
    }

    /// <summary>
    /// The published series (as of the last flush), filtered: <paramref name="measurement"/> exactly (null: any),
    /// every tag filter equal, and when <paramref name="fields"/> is given only those fields (series with none of
    /// them left out). Thread-safe; does not hold up the pipeline.
    /// </summary>
    public IReadOnlyList<LiveSeries> Snapshot(string? measurement, IReadOnlyList<(string Key, string Value)> tagFilters, IReadOnlyList<string>? fields)
    {
        var result = new List<LiveSeries>();
        foreach (var s in _published.Values)
        {
            if (measurement is not null && s.Measurement != measurement) continue;
            var match = true;
            foreach (var (key, value) in tagFilters)
            {
                if (!s.Tags.Any(t => t.Key == key && t.Value == value))
                {
                    match = false;
                    break;
                }
            }
            if (!match) continue;
            if (fields is { Count: > 0 })
            {
                var selected = new Dictionary<string, LiveField>(StringComparer.Ordinal);
                foreach (var f in fields)
                    if (s.Fields.TryGetValue(f, out var v)) selected[f] = v;
                if (selected.Count == 0) continue;
                result.Add(s with { Fields = selected });
            }
            else result.Add(s);
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return result;
    }

    private int DatabaseIndex(string database)
    {
        for (var i = 0; i < _databases.Count; i++)
            if (ReferenceEquals(_databases[i], database) || _databases[i] == database) return i;
        _databases.Add(database);
        return _databases.Count - 1;
    }

    private static ulong Slot(ulong hash, int db) => hash ^ ((ulong)db * 0x9E3779B97F4A7C15UL);

    private Series? FindOrAdd(ulong hash, int db, ReadOnlySpan<byte> key)
    {
        var slot = Slot(hash, db);
        ref var head = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_index, slot, out var exists);
        if (exists)
        {
            for (var s = head; s is not null; s = s.Next)
                if (s.Database == db && key.SequenceEqual(s.Key)) return s;
        }
        if (_count >= _options.MaxSeries)
        {
            if (!exists) _index.Remove(slot);
            return null;
        }
        var added = new Series(db, key.ToArray()) { Next = head };
        head = added;
        Volatile.Write(ref _count, _count + 1);
        return added;
    }

    private sealed class Series(int database, byte[] key)
    {
        private FieldSlot[] _fields = new FieldSlot[4];
        private int _fieldCount;
        private string? _keyText, _measurement, _id;
        private KeyValuePair<string, string>[]? _tags;

        public int Database { get; } = database;
        public byte[] Key { get; } = key;
        public Series? Next;
        public bool Dirty;
        public long UpdatedMs;
        public string? PublishedId => _id;

        public FieldSlot Field(ReadOnlySpan<byte> key)
        {
            for (var i = 0; i < _fieldCount; i++)
                if (key.SequenceEqual(_fields[i].Key)) return _fields[i];
            if (_fieldCount == _fields.Length) Array.Resize(ref _fields, _fields.Length * 2);
            return _fields[_fieldCount++] = new FieldSlot(key.ToArray());
        }

        public LiveSeries Publish(string database)
        {
            if (_id is null)
            {
                _keyText = Encoding.UTF8.GetString(Key);
                _id = database + ":" + _keyText;
                (_measurement, _tags) = SplitSeriesKey(Key);
            }
            var fields = new Dictionary<string, LiveField>(_fieldCount, StringComparer.Ordinal);
            for (var i = 0; i < _fieldCount; i++)
            {
                var f = _fields[i];
                fields[f.Name] = new LiveField(f.Text(), f.Type, f.Timestamp);
            }
            return new LiveSeries(_id, database, _keyText!, _measurement!, _tags!, fields, UpdatedMs);
        }
    }

    private sealed class FieldSlot(byte[] key)
    {
        private byte[] _value = new byte[16];
        private int _length;
        private string? _text;

        public byte[] Key { get; } = key;
        public string Name { get; } = Escaping.Unescape(key, EscapeKind.Key);
        public FieldType Type { get; private set; }
        public long Timestamp { get; private set; } = long.MinValue;

        public void Set(ReadOnlySpan<byte> raw, FieldType type, long timestamp)
        {
            if (raw.Length > _value.Length) _value = new byte[Math.Max(raw.Length, _value.Length * 2)];
            raw.CopyTo(_value);
            _length = raw.Length;
            Type = type;
            Timestamp = timestamp;
            _text = null;
        }

        /// <summary>The value as text, converted once per change.</summary>
        public string Text() => _text ??= ToText(_value.AsSpan(0, _length), Type);
    }

    private static string ToText(ReadOnlySpan<byte> raw, FieldType type) => type switch
    {
        FieldType.Integer or FieldType.Unsigned => Encoding.UTF8.GetString(raw[..^1]),
        FieldType.Boolean => raw[0] is (byte)'t' or (byte)'T' ? "true" : "false",
        FieldType.String => Escaping.Unescape(raw, EscapeKind.StringValue),
        _ => Encoding.UTF8.GetString(raw),
    };

    /// <summary>Splits a canonical series key (<c>m,k=v,…</c>, escaped) into the measurement and its tags, unescaped.</summary>
    internal static (string Measurement, KeyValuePair<string, string>[] Tags) SplitSeriesKey(ReadOnlySpan<byte> key)
    {
        var parts = new List<(int Start, int End)>();
        var start = 0;
        for (var i = 0; i < key.Length; i++)
        {
            if (key[i] == (byte)'\\') { i++; continue; }
            if (key[i] == (byte)',') { parts.Add((start, i)); start = i + 1; }
        }
        parts.Add((start, key.Length));
        var measurement = Escaping.Unescape(key[parts[0].Start..parts[0].End], EscapeKind.Measurement);
        var tags = new KeyValuePair<string, string>[parts.Count - 1];
        for (var t = 1; t < parts.Count; t++)
        {
            var part = key[parts[t].Start..parts[t].End];
            var eq = -1;
            for (var i = 0; i < part.Length; i++)
            {
                if (part[i] == (byte)'\\') { i++; continue; }
                if (part[i] == (byte)'=') { eq = i; break; }
            }
            tags[t - 1] = eq < 0
                ? new(Escaping.Unescape(part, EscapeKind.Key), "")
                : new(Escaping.Unescape(part[..eq], EscapeKind.Key), Escaping.Unescape(part[(eq + 1)..], EscapeKind.Key));
        }
        return (measurement, tags);
    }
}
