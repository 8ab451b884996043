using System.Buffers;
using System.Collections.Concurrent;

namespace Ingest.LineProtocol;

/// <summary>
/// A batch of points bound for one target (database and retention policy, or bucket), held as canonical
/// line protocol in one pooled byte buffer plus an index of <see cref="PointRef"/>s. Batches, not single points,
/// move between stages; a batch is rented from <see cref="Rent"/> and handed back with <see cref="Return"/>
/// by whoever consumes it last.
/// </summary>
/// <remarks>
/// Not thread-safe: one stage owns a batch at a time. It implements <see cref="IBufferWriter{T}"/> so that the
/// parser and the writer append bytes without copying through an intermediate buffer.
/// </remarks>
public sealed class PointBatch : IBufferWriter<byte>
{
    private const int InitialBytes = 64 * 1024;
    private const int InitialPoints = 512;
    private const int MaxPooledBatchBytes = 8 * 1024 * 1024;
    private static readonly ConcurrentQueue<PointBatch> Pool = new();
    private static long _pooledBytes;

    /// <summary>
    /// Most memory kept in pooled batches (their buffers), 64 MiB by default. A host whose batches wait in a
    /// large buffer should raise it to about what that buffer holds: every batch the pool cannot take back is
    /// garbage, and at a few hundred KB each that is large-object-heap garbage, collected only by full GCs.
    /// </summary>
    public static long PoolLimitBytes { get; set; } = 64L << 20;

    /// <summary>Memory currently held by pooled batches.</summary>
    public static long PooledBytes => Interlocked.Read(ref _pooledBytes);

    private long PooledSize => _data.Length + (long)_points.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<PointRef>();

    private byte[] _data;
    private int _length;
    private int _references = 1;
    private PointRef[] _points;
    private int _count;

    public PointBatch()
    {
        _data = ByteBuffers.Rent(InitialBytes);
        _points = ArrayPool<PointRef>.Shared.Rent(InitialPoints);
    }

    /// <summary>Target database (1.x) or bucket (2.x). Empty means the configured default.</summary>
    public string Database { get; set; } = "";

    /// <summary>Target retention policy (1.x). Empty means the database's default.</summary>
    public string RetentionPolicy { get; set; } = "";

    /// <summary>
    /// <see cref="System.Diagnostics.Stopwatch"/> timestamp of the moment the batch was acknowledged, 0 when not
    /// set; stages measure their latency from it.
    /// </summary>
    public long AcceptedAt { get; set; }

    /// <summary>
    /// The write-ahead log's record number for the batch (0 when it has none): stages report what they are done
    /// with by it, and state that spans batches remembers the oldest one it still needs. Only the log sets it.
    /// </summary>
    public long Sequence { get; set; }

    /// <summary>
    /// For a batch the graph derived (downsampled windows, alert events): its number among the batches its stage
    /// emitted, by which the sink reports it delivered. 0 for the batches sources bring.
    /// </summary>
    public long Emission { get; set; }

    /// <summary>Number of points in the batch.</summary>
    public int Count => _count;

    /// <summary>Number of bytes of canonical line protocol in the batch.</summary>
    public int ByteLength => _length;

    /// <summary>All lines, each ending in LF: a valid line-protocol body with nanosecond timestamps.</summary>
    public ReadOnlySpan<byte> Data => _data.AsSpan(0, _length);

    /// <summary>Same as <see cref="Data"/>, as memory (for stream writes).</summary>
    public ReadOnlyMemory<byte> DataMemory => _data.AsMemory(0, _length);

    public ReadOnlySpan<PointRef> Points => _points.AsSpan(0, _count);

    /// <summary>The canonical line of point <paramref name="index"/>, including its LF.</summary>
    public ReadOnlySpan<byte> Line(int index)
    {
        ref readonly var p = ref At(index);
        return _data.AsSpan(p.Offset, p.LineLength);
    }

    /// <summary>The series key (measurement and sorted tags, escaped) of point <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> SeriesKey(int index)
    {
        ref readonly var p = ref At(index);
        return _data.AsSpan(p.Offset, p.SeriesKeyLength);
    }

    /// <summary>The field set of point <paramref name="index"/>, escaped as on the wire.</summary>
    public ReadOnlySpan<byte> Fields(int index)
    {
        ref readonly var p = ref At(index);
        return _data.AsSpan(p.FieldsOffset, p.FieldsLength);
    }

    // The pooled array is longer than Count: an index past Count would read a stale point, not throw.
    private ref readonly PointRef At(int index)
    {
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index));
        return ref _points[index];
    }

    /// <summary>Records a point whose line has already been written (through <see cref="GetSpan"/>/<see cref="Advance"/>).</summary>
    public void AddPoint(in PointRef point)
    {
        if (_count == _points.Length)
        {
            var bigger = ArrayPool<PointRef>.Shared.Rent(_points.Length * 2);
            _points.AsSpan(0, _count).CopyTo(bigger);
            ArrayPool<PointRef>.Shared.Return(_points);
            _points = bigger;
        }
        _points[_count++] = point;
    }

    /// <summary>Copies point <paramref name="index"/> of <paramref name="source"/> into this batch.</summary>
    public void CopyPointFrom(PointBatch source, int index)
    {
        var p = source.At(index);
        var offset = _length;
        // Grow first, then read the source: when source is this batch, growing moves its bytes.
        var target = GetSpan(p.LineLength);
        source.Line(index).CopyTo(target);
        Advance(p.LineLength);
        AddPoint(p with { Offset = offset });
    }

    /// <summary>
    /// Takes the points at <paramref name="indexes"/> (ascending, each once) out of the batch, moving the lines
    /// after them down so that <see cref="Data"/> stays exactly the kept lines, in their order.
    /// </summary>
    public void RemovePoints(ReadOnlySpan<int> indexes)
    {
        int kept = 0, length = 0, next = 0;
        for (int i = 0; i < _count; i++)
        {
            if (next < indexes.Length && indexes[next] == i)
            {
                next++;
                continue;
            }
            var p = _points[i];
            if (p.Offset != length) _data.AsSpan(p.Offset, p.LineLength).CopyTo(_data.AsSpan(length));
            _points[kept++] = p with { Offset = length };
            length += p.LineLength;
        }
        if (next != indexes.Length) throw new ArgumentException("indexes must be ascending, distinct and below Count", nameof(indexes));
        _count = kept;
        _length = length;
    }

    /// <summary>Drops bytes written after <paramref name="byteLength"/> (a line that turned out bad).</summary>
    public void Truncate(int byteLength)
    {
        if ((uint)byteLength > (uint)_length) throw new ArgumentOutOfRangeException(nameof(byteLength));
        _length = byteLength;
    }

    public void Advance(int count)
    {
        if (count < 0 || _length + count > _data.Length) throw new ArgumentOutOfRangeException(nameof(count));
        _length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _data.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _data.AsSpan(_length);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1) sizeHint = 1;
        if (_data.Length - _length >= sizeHint) return;
        var size = Math.Max(_data.Length * 2, _length + sizeHint);
        // Not the shared pool beyond a megabyte: one large body must not leave its buffers pooled for good.
        var bigger = ByteBuffers.Rent(size);
        _data.AsSpan(0, _length).CopyTo(bigger);
        ByteBuffers.Return(_data);
        _data = bigger;
    }

    /// <summary>
    /// Adds an owner: a batch fanned out to several stages goes back to the pool only when the last of them
    /// calls <see cref="Release"/>. A rented batch starts with one owner.
    /// </summary>
    public PointBatch Retain()
    {
        if (Interlocked.Increment(ref _references) <= 1) throw new InvalidOperationException("batch retained after it was returned");
        return this;
    }

    /// <summary>Drops one owner; the last one returns the batch to the pool.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left == 0) Return(this);
        else if (left < 0) throw new InvalidOperationException("batch released more often than retained");
    }

    /// <summary>Owners holding the batch (1 after <see cref="Rent"/>).</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>Empties the batch, keeping its buffers.</summary>
    public void Clear()
    {
        _length = 0;
        _count = 0;
        AcceptedAt = 0;
        Sequence = 0;
        Emission = 0;
        Database = "";
        RetentionPolicy = "";
    }

    /// <summary>A cleared batch from the pool, or a new one.</summary>
    public static PointBatch Rent()
    {
        if (Pool.TryDequeue(out var batch))
        {
            Interlocked.Add(ref _pooledBytes, -batch.PooledSize);
            batch._references = 1;
            return batch;
        }
        return new PointBatch();
    }

    /// <summary>Hands a batch back. The caller must not touch it afterwards.</summary>
    public static void Return(PointBatch batch)
    {
        batch._references = 0;
        batch.Clear();
        // Very large buffers are not kept: one huge request must not pin its memory for ever.
        if (batch._data.Length > MaxPooledBatchBytes) return;
        var size = batch.PooledSize;
        if (Interlocked.Add(ref _pooledBytes, size) > PoolLimitBytes)
        {
            Interlocked.Add(ref _pooledBytes, -size);
            return;
        }
        Pool.Enqueue(batch);
    }
}
