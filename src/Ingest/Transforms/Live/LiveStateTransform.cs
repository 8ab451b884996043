using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Live;

/// <summary>The latest value of one field and the event time it was given at (ns).</summary>
/// <param name="Value">As text: floats as written, integers without their <c>i</c>/<c>u</c> suffix,
/// <c>true</c>/<c>false</c>, strings unescaped.</param>
public readonly record struct LiveField(string Value, FieldType Type, long Timestamp);

/// <summary>One series as last published by <see cref="LiveStateTransform.TakeDirty"/>: a copy, built for a reader.</summary>
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
}

/// <summary>
/// One field of a <see cref="LiveWrite"/>: the hash fields <c>{Name}</c> = <c>{Value}</c> and <c>{TsName}</c>
/// (<c>{Name}:ts</c>) = <c>{Timestamp}</c>. Text as UTF-8: the Redis client sends bytes as they are, where a string
/// would be encoded anew at every write (names are encoded once per field and kept).
/// </summary>
/// <param name="Value">The published value as text, in the field's own buffer: valid until the next
/// <see cref="LiveStateTransform.TakeDirty"/>, or for good after <see cref="LiveStateTransform.ReleaseBuffers"/>.</param>
public readonly record struct LiveWriteField(byte[] Name, byte[] TsName, ReadOnlyMemory<byte> Value, long Timestamp);

/// <summary>
/// What the writer sends to Redis for one series: its published state. One per series, kept with it and brought up
/// to date at each publication, so that a flush allocates nothing per series; read it before the next
/// <see cref="LiveStateTransform.TakeDirty"/>.
/// </summary>
public sealed class LiveWrite
{
    internal LiveWrite(byte[] id, byte[] redisKey)
    {
        Id = id;
        RedisKey = redisKey;
    }

    /// <summary><c>{db}:{seriesKey}</c> (UTF-8), the member of the Redis index.</summary>
    public byte[] Id { get; }

    /// <summary><c>ingest:live:{db}:{seriesKey}</c> (UTF-8).</summary>
    public byte[] RedisKey { get; }

    /// <summary>Every published field, in the order the series first had them.</summary>
    public LiveWriteField[] Fields { get; internal set; } = [];

    /// <summary>Wall-clock Unix time (ms) of the last point received for the series.</summary>
    public long UpdatedMs { get; internal set; }

    /// <summary>
    /// Wall-clock Unix time (ms) until which the Redis key is known to live (the TTL last set, counted from when it
    /// was set); 0 when unknown. Kept by the writer alone.
    /// </summary>
    public long KeyLivesUntilMs { get; set; }
}

/// <summary>
/// Keeps the latest value and event time of every field of every series, as a pipeline transform (it derives
/// nothing). <see cref="Process"/> runs on the runner thread and does not allocate once a series and its fields
/// are known; changed series are marked dirty, once each however often they change, and
/// <see cref="TakeDirty"/> (the writer, every flush interval) publishes them for <see cref="Snapshot"/> and
/// hands them on to Redis.
/// </summary>
/// <remarks>
/// Publishing writes each field's value as text into a second slot of the same series, in place, and brings the
/// series' <see cref="LiveWrite"/> up to date: nothing is allocated per series and flush. (Published copies made
/// anew each flush lived just long enough to reach the oldest generation of the heap, and at 100 000 series the
/// collections of that garbage paused the whole process for a quarter of the time.) Readers of the published
/// state lock the one series they copy, never the pipeline.
/// <para>The Redis client reads a value's bytes when it sends the command, which may be after the flush that
/// handed them out gave up waiting: <see cref="ReleaseBuffers"/> then makes the next publication of every field
/// write a new buffer instead of overwriting one a pending command still points at.</para>
/// </remarks>
public sealed class LiveStateTransform : ITransformStage
{
    private readonly object _sync = new();
    // The series by slot (their key's hash mixed with the database), open addressing with linear probing, at most half
    // full: a point finds its series with one read of the table, where a Dictionary reads its buckets and then its
    // entries. Series whose slots are equal (different keys) are chained from the entry through Series.Next.
    private IndexEntry[] _index = new IndexEntry[1024];
    private int _indexUsed;
    private readonly List<Series> _dirty = new();
    private readonly List<string> _databases = new();
    // Published series by id; an entry is added at a series' first publication and removed when it is pruned.
    private readonly ConcurrentDictionary<string, Series> _published = new(StringComparer.Ordinal);
    private volatile LiveOptions _options;
    private readonly string _defaultDatabase;
    private readonly StageStats? _stats;
    private readonly string _keyPrefix;
    private int _count;
    private long _untracked;
    // Buffers handed out before the last ReleaseBuffers are never written again.
    private int _bufferGeneration;

    /// <param name="keyPrefix">Before <c>{db}:{seriesKey}</c> in a series' Redis key (<see cref="RedisOptions.LiveKeyPrefix"/>).</param>
    public LiveStateTransform(LiveOptions options, string defaultDatabase, StageStats? stats = null, string? keyPrefix = null)
    {
        _options = options;
        _defaultDatabase = defaultDatabase;
        _stats = stats;
        _keyPrefix = keyPrefix ?? new RedisOptions().LiveKeyPrefix;
    }

    public string Name => "live";

    /// <summary>Before <c>{db}:{seriesKey}</c> in each series' Redis key.</summary>
    public string KeyPrefix => _keyPrefix;

    /// <summary>
    /// The settings in force. A reload replaces them at once: <see cref="LiveOptions.Expiry"/> and
    /// <see cref="LiveOptions.MaxSeries"/> from the next point, <see cref="LiveOptions.FlushInterval"/> from the writer's
    /// next flush. <see cref="LiveOptions.Enabled"/> is the one a restart needs: the transform exists or it does not.
    /// </summary>
    public LiveOptions Options
    {
        get => _options;
        set => _options = value ?? throw new ArgumentNullException(nameof(value));
    }

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
                if (Sse.IsSupported) PrefetchAhead(points, i, db);
                var p = points[i];
                var series = FindOrAdd(p.SeriesHash, db, input.SeriesKey(i));
                if (series is null)
                {
                    untracked++;
                    continue;
                }
                series.Update(input.Fields(i), p.Timestamp);
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
    /// Takes up to <paramref name="max"/> dirty series, publishes them for <see cref="Snapshot"/> and adds what
    /// Redis is to get to <paramref name="into"/>; returns how many were taken.
    /// </summary>
    public int TakeDirty(List<LiveWrite> into, int max = int.MaxValue)
    {
        lock (_sync)
        {
            var n = Math.Min(max, _dirty.Count);
            // From the end: taking a chunk leaves the rest in place.
            for (var i = _dirty.Count - n; i < _dirty.Count; i++)
            {
                var s = _dirty[i];
                s.Dirty = false;
                if (s.Publish(_databases[s.Database], _bufferGeneration, _keyPrefix)) _published[s.PublishedId!] = s;
                into.Add(s.Write!);
            }
            _dirty.RemoveRange(_dirty.Count - n, n);
            return n;
        }
    }

    /// <summary>
    /// Every published series (for a full rewrite), stale ones (older than the expiry) left out. Not to be called
    /// while <see cref="TakeDirty"/> runs (the writer calls both, one after the other).
    /// </summary>
    public void AllPublished(long nowMs, List<LiveWrite> into)
    {
        var expiry = (long)_options.Expiry.TotalMilliseconds;
        foreach (var s in _published.Values)
        {
            var write = s.Write!;
            if (expiry == 0 || nowMs - write.UpdatedMs < expiry) into.Add(write);
        }
    }

    /// <summary>
    /// Says that the value buffers handed out so far may still be read (by commands of a flush that gave up
    /// waiting for Redis): from now on each field publishes into a new buffer once, and the old ones are left alone.
    /// </summary>
    public void ReleaseBuffers()
    {
        lock (_sync) _bufferGeneration++;
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
            var kept = new List<IndexEntry>();
            foreach (var entry in _index)
            {
                Series? head = null, tail = null;
                for (var s = entry.Head; s is not null;)
                {
                    var next = s.Next;
                    s.Next = null;
                    if (!s.Dirty && nowMs - s.UpdatedMs >= expiry)
                    {
                        if (s.PublishedId is { } id) _published.TryRemove(id, out _);
                        removed++;
                    }
                    else if (tail is null) head = tail = s;
                    else tail = tail.Next = s;
                    s = next;
                }
                if (head is not null) kept.Add(new IndexEntry(entry.Slot, head, head.State));
            }
            if (removed == 0) return 0;
            // Open addressing has no cheap removal: the table is built again from what is left (a prune runs at most
            // every quarter of the expiry).
            var size = 1024;
            while (kept.Count * 2 > size) size *= 2;
            Rebuild(size, kept);
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
            // Measurement and tags are set at the first publication and never change.
            if (measurement is not null && s.Measurement != measurement) continue;
            var match = true;
            foreach (var (key, value) in tagFilters)
            {
                if (!s.Tags!.Any(t => t.Key == key && t.Value == value))
                {
                    match = false;
                    break;
                }
            }
            if (!match) continue;
            if (s.PublishedSeries(fields) is { } copy) result.Add(copy);
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return result;
    }

    /// <summary>
    /// The published series whose measurement and tags <paramref name="match"/> takes, each copied as the caller
    /// reaches it: a picture of many series is never built whole, and series that do not match are not copied.
    /// Thread-safe; in no particular order.
    /// </summary>
    public IEnumerable<LiveSeries> Published(Func<string, IReadOnlyList<KeyValuePair<string, string>>, bool> match)
    {
        // Enumerating the dictionary itself (not .Values, which copies every entry under all its locks) is lazy.
        foreach (var (_, s) in _published)
        {
            if (!match(s.Measurement!, s.Tags!)) continue;
            if (s.PublishedSeries(null) is { } copy) yield return copy;
        }
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
        var index = _index;
        var mask = index.Length - 1;
        var i = Start(slot, mask);
        while (index[i].Head is { } head)
        {
            if (index[i].Slot == slot)
            {
                for (var s = head; s is not null; s = s.Next)
                {
                    if (s.Database != db || !key.SequenceEqual(s.Key)) continue;
                    // The entry's hint for prefetching follows the head's state array when it was replaced (grown).
                    if (s == head && !ReferenceEquals(index[i].State, s.State)) index[i] = index[i] with { State = s.State };
                    return s;
                }
                if (_count >= _options.MaxSeries) return null;
                // Another key with the same slot: chained in front.
                var chained = new Series(db, key) { Next = head };
                index[i] = new IndexEntry(slot, chained, chained.State);
                Volatile.Write(ref _count, _count + 1);
                return index[i].Head;
            }
            i = (i + 1) & mask;
        }
        if (_count >= _options.MaxSeries) return null;
        var added = new Series(db, key);
        index[i] = new IndexEntry(slot, added, added.State);
        Volatile.Write(ref _count, _count + 1);
        if (++_indexUsed * 2 > index.Length) Rebuild(index.Length * 2, index);
        return added;
    }

    // How far ahead of the point being processed the memory of later points' series is asked for: the table entry
    // 2 × Ahead points ahead, then, from that entry, the series and its state Ahead points ahead.
    private const int Ahead = 8;

    /// <summary>
    /// Asks the processor for the memory the points <see cref="Ahead"/> and 2 × <see cref="Ahead"/> places on will
    /// read. Among the megabytes of bodies, logs and buffers the daemon streams through, a point's series is rarely in
    /// the cache: processed in order, each point waited on three reads from memory one after the other (table entry,
    /// series, its state), and those waits were most of the transform's time. Asked for early they overlap. A
    /// prefetch never faults, so a stale hint (an entry of another slot, a state array since replaced) only wastes it.
    /// </summary>
    private unsafe void PrefetchAhead(ReadOnlySpan<PointRef> points, int i, int db)
    {
        var index = _index;
        var mask = index.Length - 1;
        if (i + 2 * Ahead < points.Length)
            Sse.Prefetch0(Unsafe.AsPointer(ref index[Start(Slot(points[i + 2 * Ahead].SeriesHash, db), mask)]));
        if (i + Ahead < points.Length)
        {
            ref var entry = ref index[Start(Slot(points[i + Ahead].SeriesHash, db), mask)];
            if (entry.Head is { } head)
            {
                Sse.Prefetch0(*(void**)Unsafe.AsPointer(ref head));
                if (entry.State is { } state)
                {
                    // The key and the first fields: three cache lines hold a series of a few numeric fields. The
                    // array's length is not read to bound them (that read would wait for the very line asked for);
                    // a prefetch past the end of an array is harmless.
                    var data = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(state));
                    Sse.Prefetch0(data);
                    Sse.Prefetch0(data + 64);
                    Sse.Prefetch0(data + 128);
                }
            }
        }
    }

    private static int Start(ulong slot, int mask) => (int)((slot ^ (slot >> 29)) & (ulong)mask);

    /// <summary>Replaces the table with one of <paramref name="size"/> places holding the entries of <paramref name="entries"/> that are in use.</summary>
    private void Rebuild(int size, IEnumerable<IndexEntry> entries)
    {
        var index = new IndexEntry[size];
        var mask = size - 1;
        var used = 0;
        foreach (var entry in entries)
        {
            if (entry.Head is null) continue;
            var i = Start(entry.Slot, mask);
            while (index[i].Head is not null) i = (i + 1) & mask;
            index[i] = entry;
            used++;
        }
        _index = index;
        _indexUsed = used;
    }

    /// <param name="State">The head's state array when last seen, only a hint for <see cref="PrefetchAhead"/>.</param>
    private readonly record struct IndexEntry(ulong Slot, Series? Head, byte[]? State);

    /// <summary>
    /// A series: the current field values (written by <see cref="Update"/> under the transform's lock) and the
    /// published ones (copied from them by <see cref="Publish"/>, under the transform's lock and this object's;
    /// read under this object's lock alone).
    /// </summary>
    /// <remarks>
    /// The current values live in one array with the series key, so that a point reads and writes a cache line or
    /// two of it instead of an object per field and an array per key and value (the transform's cost at 10 000
    /// series was mostly those memory reads). The array holds the series key, then one entry per field, in the order
    /// the series first had them: <c>[key length][value capacity][value length][type][timestamp][key][value]</c>,
    /// the first four as <c>int</c>, the timestamp as <c>long</c>, the value in room for <c>value capacity</c> bytes.
    /// The published side (<see cref="FieldSlot"/>, one per entry, same order) is touched only at a flush.
    /// </remarks>
    private sealed class Series
    {
        private const int Header = 24; // key length, value capacity, value length, type (int each), timestamp (long)
        private const int MinValueRoom = 16;
        private byte[] _state;
        private readonly int _keyLength;
        private int _stateLength;
        // Where the entry after the one matched last begins: fields usually come in the same order every point.
        private int _cursor;
        private FieldSlot[] _fields = new FieldSlot[4];
        private int _fieldCount, _publishedCount;
        private long _publishedUpdatedMs;
        private string? _id, _databaseName, _keyText;

        public Series(int database, ReadOnlySpan<byte> key)
        {
            Database = database;
            _keyLength = key.Length;
            _state = new byte[key.Length + 3 * (Header + 16 + MinValueRoom)];
            key.CopyTo(_state);
            _stateLength = _cursor = key.Length;
        }

        public int Database { get; }
        public ReadOnlySpan<byte> Key => _state.AsSpan(0, _keyLength);
        /// <summary>The array holding the key and the current values (replaced when it grows).</summary>
        public byte[] State => _state;
        public Series? Next;
        public bool Dirty;
        public long UpdatedMs;
        public string? PublishedId => _id;
        /// <summary>The published state as Redis gets it; null before the first publication.</summary>
        public LiveWrite? Write { get; private set; }
        public string? Measurement { get; private set; }
        public KeyValuePair<string, string>[]? Tags { get; private set; }

        /// <summary>Takes the fields of a point at <paramref name="timestamp"/>: per field, newer event time wins; at the same time the later arrival does.</summary>
        public void Update(ReadOnlySpan<byte> fields, long timestamp)
        {
            // Most points of a series have its fields in the order of its entries, with unquoted values: those are
            // matched entry by entry, without searching. What is left from the first difference takes the long way.
            var pos = 0;
            var entry = _keyLength;
            for (var n = 0; n < _fieldCount && pos < fields.Length; n++)
            {
                var keyLength = Read<int>(entry);
                var valueAt = pos + keyLength + 1;
                if (valueAt >= fields.Length || fields[valueAt - 1] != (byte)'=' || fields[valueAt] == (byte)'"'
                    || !fields.Slice(pos, keyLength).SequenceEqual(_state.AsSpan(entry + Header, keyLength)))
                    break;
                // An unquoted value (a number or a boolean) holds no comma.
                var end = valueAt;
                while (end < fields.Length && fields[end] != (byte)',') end++;
                var raw = fields[valueAt..end];
                entry = Take(entry, raw, FieldEnumerator.TypeOf(raw), timestamp);
                pos = end + 1;
            }
            if (pos >= fields.Length) return;
            foreach (var field in new FieldEnumerator(fields[pos..], convert: false))
            {
                var at = Find(field.Key);
                if (at < 0) at = Add(field.Key, field.RawValue.Length);
                _cursor = Take(at, field.RawValue, field.Type, timestamp);
            }
        }

        /// <summary>
        /// Makes <paramref name="raw"/> the value of the entry at <paramref name="at"/> unless the entry holds a newer
        /// one (newer event time wins; at the same time the later arrival does), growing its room as needed. Returns
        /// where the entry ends, that is where the next one begins.
        /// </summary>
        private int Take(int at, ReadOnlySpan<byte> raw, FieldType type, long timestamp)
        {
            var keyLength = Read<int>(at);
            if (timestamp >= Read<long>(at + 16))
            {
                if (raw.Length > Read<int>(at + 4)) Grow(at, raw.Length);
                Put(at + 8, raw.Length);
                Put(at + 12, (int)type);
                Put(at + 16, timestamp);
                raw.CopyTo(_state.AsSpan(at + Header + keyLength));
            }
            return End(at);
        }

        /// <summary>Where the entry at <paramref name="at"/> ends, that is where the next one begins.</summary>
        private int End(int at) => at + Header + Read<int>(at) + Read<int>(at + 4);

        /// <summary>Where the entry of <paramref name="key"/> begins; -1 when the series has no such field yet.</summary>
        private int Find(ReadOnlySpan<byte> key)
        {
            var from = _cursor < _stateLength ? _cursor : _keyLength;
            var at = Scan(key, from, _stateLength);
            return at >= 0 ? at : Scan(key, _keyLength, from);
        }

        private int Scan(ReadOnlySpan<byte> key, int from, int to)
        {
            var state = _state;
            for (var at = from; at < to;)
            {
                var keyLength = Read<int>(at);
                if (keyLength == key.Length && key.SequenceEqual(state.AsSpan(at + Header, keyLength))) return at;
                at = End(at);
            }
            return -1;
        }

        private int Add(ReadOnlySpan<byte> key, int valueLength)
        {
            var room = Math.Max(MinValueRoom, valueLength);
            var size = Header + key.Length + room;
            if (_stateLength + size > _state.Length) Array.Resize(ref _state, Math.Max(_stateLength + size, _state.Length * 2));
            var at = _stateLength;
            Put(at, key.Length);
            Put(at + 4, room);
            Put(at + 8, 0);
            Put(at + 12, 0);
            Put(at + 16, long.MinValue);
            key.CopyTo(_state.AsSpan(at + Header));
            _stateLength += size;
            if (_fieldCount == _fields.Length) Array.Resize(ref _fields, _fields.Length * 2);
            _fields[_fieldCount++] = new FieldSlot(key.ToArray());
            return at;
        }

        /// <summary>Makes room for a value of <paramref name="length"/> bytes in the entry at <paramref name="at"/>; its old value is not kept.</summary>
        private void Grow(int at, int length)
        {
            var keyLength = Read<int>(at);
            var room = Read<int>(at + 4);
            var newRoom = Math.Max(length, room * 2);
            var valueAt = at + Header + keyLength;
            var grown = new byte[_state.Length + newRoom - room];
            _state.AsSpan(0, valueAt).CopyTo(grown);
            _state.AsSpan(valueAt + room, _stateLength - valueAt - room).CopyTo(grown.AsSpan(valueAt + newRoom));
            _state = grown;
            _stateLength += newRoom - room;
            if (_cursor > at) _cursor += newRoom - room;
            Put(at + 4, newRoom);
        }

        // Offsets come from the entries' own lengths, always within the array: read and written without bounds checks
        // (a point's cost is a handful of these per field).
        private T Read<T>(int at) where T : unmanaged =>
            Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_state), at));

        private void Put<T>(int at, T value) where T : unmanaged =>
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_state), at), value);

        /// <summary>
        /// Copies the current values to the published ones, as text, and brings <see cref="Write"/> up to date;
        /// true at the first publication.
        /// </summary>
        public bool Publish(string database, int bufferGeneration, string keyPrefix)
        {
            var first = _id is null;
            if (first)
            {
                _databaseName = database;
                _keyText = Encoding.UTF8.GetString(Key);
                (Measurement, Tags) = SplitSeriesKey(Key);
                _id = database + ":" + _keyText;
                Write = new LiveWrite(Encoding.UTF8.GetBytes(_id), Encoding.UTF8.GetBytes(keyPrefix + _id));
            }
            lock (this)
            {
                var write = Write!;
                // The array is replaced only when the series gained fields; its elements are rewritten in place.
                var fields = write.Fields.Length == _fieldCount ? write.Fields : new LiveWriteField[_fieldCount];
                var at = _keyLength;
                for (var i = 0; i < _fieldCount; i++)
                {
                    var f = _fields[i];
                    f.Publish(_state.AsSpan(at + Header + Read<int>(at), Read<int>(at + 8)), (FieldType)Read<int>(at + 12), Read<long>(at + 16), bufferGeneration);
                    fields[i] = new LiveWriteField(f.NameBytes, f.TsNameBytes, f.PublishedTextBytes, f.PublishedTimestamp);
                    at = End(at);
                }
                write.Fields = fields;
                write.UpdatedMs = UpdatedMs;
                _publishedCount = _fieldCount;
                _publishedUpdatedMs = UpdatedMs;
            }
            return first;
        }

        /// <summary>A copy of the published state, with only <paramref name="only"/> of its fields when given; null when none of them is there.</summary>
        public LiveSeries? PublishedSeries(IReadOnlyList<string>? only)
        {
            lock (this)
            {
                var fields = new Dictionary<string, LiveField>(_publishedCount, StringComparer.Ordinal);
                for (var i = 0; i < _publishedCount; i++)
                {
                    var f = _fields[i];
                    if (only is { Count: > 0 } && !only.Contains(f.Name, StringComparer.Ordinal)) continue;
                    fields[f.Name] = new LiveField(f.PublishedText(), f.PublishedType, f.PublishedTimestamp);
                }
                if (only is { Count: > 0 } && fields.Count == 0) return null;
                return new LiveSeries(_id!, _databaseName!, _keyText!, Measurement!, Tags!, fields, _publishedUpdatedMs);
            }
        }
    }

    /// <summary>One field of a series as published: its name, and its value as text, made at each flush from the current one.</summary>
    private sealed class FieldSlot(byte[] key)
    {
        private byte[] _published = new byte[16];
        private int _publishedLength;
        private int _publishedGeneration;

        public string Name { get; } = Escaping.Unescape(key, EscapeKind.Key);
        public byte[] NameBytes => field ??= Encoding.UTF8.GetBytes(Name);
        public byte[] TsNameBytes => field ??= Encoding.UTF8.GetBytes(Name + ":ts");
        public FieldType PublishedType { get; private set; }
        public long PublishedTimestamp { get; private set; } = long.MinValue;

        /// <summary>
        /// Writes the current value (<paramref name="raw"/>, as in the line) as text into the published buffer: into the
        /// same one as last time unless it is too small or was handed out before <paramref name="generation"/> began.
        /// </summary>
        public void Publish(ReadOnlySpan<byte> raw, FieldType type, long timestamp, int generation)
        {
            // The text is never longer than the raw value (a suffix dropped, escapes removed; true/false at most 5).
            var room = Math.Max(raw.Length, 5);
            if (room > _published.Length || generation != _publishedGeneration)
            {
                _published = new byte[Math.Max(room, _published.Length)];
                _publishedGeneration = generation;
            }
            _publishedLength = ToText(raw, type, _published);
            PublishedType = type;
            PublishedTimestamp = timestamp;
        }

        /// <summary>For readers of the snapshot (rare): the same text Redis gets.</summary>
        public string PublishedText() => Encoding.UTF8.GetString(_published, 0, _publishedLength);

        public ReadOnlyMemory<byte> PublishedTextBytes => new(_published, 0, _publishedLength);
    }

    /// <summary>
    /// A field value as text, UTF-8, into <paramref name="text"/> (at least as long as <paramref name="raw"/> and 5):
    /// floats as written, integers without their <c>i</c>/<c>u</c> suffix, <c>true</c>/<c>false</c>, strings unescaped.
    /// Returns the length.
    /// </summary>
    private static int ToText(ReadOnlySpan<byte> raw, FieldType type, Span<byte> text)
    {
        switch (type)
        {
            case FieldType.Integer or FieldType.Unsigned:
                raw[..^1].CopyTo(text);
                return raw.Length - 1;
            case FieldType.Boolean:
                var value = raw[0] is (byte)'t' or (byte)'T' ? "true"u8 : "false"u8;
                value.CopyTo(text);
                return value.Length;
            case FieldType.String:
                return Escaping.Unescape(raw, EscapeKind.StringValue, text);
            default:
                raw.CopyTo(text);
                return raw.Length;
        }
    }

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
