using System.Buffers;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// Interns byte keys (series keys, field keys) as small integer ids, the bytes kept in one pooled arena.
/// Lookups compare the stored bytes, so a hash collision never merges two keys. Ids are reused after
/// <see cref="Remove"/>; the arena is compacted when most of it is dead, so churning series do not grow it.
/// </summary>
internal sealed class KeyTable
{
    private struct Entry
    {
        public ulong Hash;
        public int Offset;
        public int Length;
        public int Scope;
        public int Next; // chain in a bucket; for a free id, the next free id
    }

    private Entry[] _entries = new Entry[256];
    private int[] _buckets = NewBuckets(512);
    private int _used;      // ids handed out so far (live or freed)
    private int _free = -1;
    private byte[] _arena = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _arenaLength;
    private int _deadBytes;

    public int Count { get; private set; }

    /// <summary>One past the highest id ever handed out: size parallel arrays to it.</summary>
    public int IdLimit => _used;

    public long EstimatedBytes => (long)_entries.Length * 28 + _buckets.Length * 4L + _arena.Length;

    public ReadOnlySpan<byte> KeyOf(int id) => _arena.AsSpan(_entries[id].Offset, _entries[id].Length);

    public ulong HashOf(int id) => _entries[id].Hash;

    public int ScopeOf(int id) => _entries[id].Scope;

    /// <summary>Whether <paramref name="id"/> (below <see cref="IdLimit"/>) names a key, rather than a freed slot.</summary>
    public bool IsLive(int id) => _entries[id].Length >= 0;

    /// <summary>
    /// The id of (<paramref name="scope"/>, <paramref name="key"/>), adding it if new. The scope separates equal keys that
    /// must stay apart (the same series written to two databases).
    /// </summary>
    public int FindOrAdd(ReadOnlySpan<byte> key, ulong hash, int scope, out bool added)
    {
        int bucket = (int)(hash & (ulong)(_buckets.Length - 1));
        for (int i = _buckets[bucket]; i >= 0; i = _entries[i].Next)
        {
            ref var e = ref _entries[i];
            if (e.Hash == hash && e.Scope == scope && _arena.AsSpan(e.Offset, e.Length).SequenceEqual(key))
            {
                added = false;
                return i;
            }
        }
        added = true;
        return Add(key, hash, scope);
    }

    public void Remove(int id)
    {
        ref var e = ref _entries[id];
        int bucket = (int)(e.Hash & (ulong)(_buckets.Length - 1));
        if (_buckets[bucket] == id) _buckets[bucket] = e.Next;
        else
        {
            int i = _buckets[bucket];
            while (_entries[i].Next != id) i = _entries[i].Next;
            _entries[i].Next = e.Next;
        }
        _deadBytes += e.Length;
        e.Length = -1; // marks a free id (keys are never empty)
        e.Next = _free;
        _free = id;
        Count--;
        if (_deadBytes > 64 * 1024 && _deadBytes > _arenaLength / 2) Compact();
    }

    private int Add(ReadOnlySpan<byte> key, ulong hash, int scope)
    {
        if (_arenaLength + key.Length > _arena.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_arena.Length * 2, _arenaLength + key.Length));
            _arena.AsSpan(0, _arenaLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_arena);
            _arena = bigger;
        }
        key.CopyTo(_arena.AsSpan(_arenaLength));

        // Before the id is taken: a half-written entry must not be threaded into the new buckets.
        if (Count + 1 > _buckets.Length / 2) Rehash(_buckets.Length * 2);
        int id;
        if (_free >= 0) { id = _free; _free = _entries[id].Next; }
        else
        {
            if (_used == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
            id = _used++;
        }
        Count++;
        int bucket = (int)(hash & (ulong)(_buckets.Length - 1));
        _entries[id] = new Entry { Hash = hash, Offset = _arenaLength, Length = key.Length, Scope = scope, Next = _buckets[bucket] };
        _buckets[bucket] = id;
        _arenaLength += key.Length;
        return id;
    }

    private void Rehash(int size)
    {
        _buckets = NewBuckets(size);
        for (int i = 0; i < _used; i++)
        {
            ref var e = ref _entries[i];
            if (e.Length < 0) continue;
            int bucket = (int)(e.Hash & (ulong)(size - 1));
            e.Next = _buckets[bucket];
            _buckets[bucket] = i;
        }
    }

    // Copies live keys to the front of a fresh arena; ids do not change, only offsets.
    private void Compact()
    {
        var fresh = ArrayPool<byte>.Shared.Rent(Math.Max(16 * 1024, _arenaLength - _deadBytes));
        int length = 0;
        for (int i = 0; i < _used; i++)
        {
            ref var e = ref _entries[i];
            if (e.Length < 0) continue;
            _arena.AsSpan(e.Offset, e.Length).CopyTo(fresh.AsSpan(length));
            e.Offset = length;
            length += e.Length;
        }
        ArrayPool<byte>.Shared.Return(_arena);
        _arena = fresh;
        _arenaLength = length;
        _deadBytes = 0;
    }

    private static int[] NewBuckets(int size)
    {
        var buckets = new int[size];
        buckets.AsSpan().Fill(-1);
        return buckets;
    }
}
