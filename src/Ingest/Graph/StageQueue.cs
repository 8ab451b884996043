using Ingest.LineProtocol;

namespace Ingest.Graph;

/// <summary>
/// The bounded queue in front of one stage, measured in points. What happens when it is full is the queue's
/// <see cref="FullPolicy"/>; every batch it drops goes through <c>onDrop</c> (to be counted) and is released.
/// </summary>
/// <remarks>
/// Any number of writers; one reader (the stage's runner). A batch written is owned by the queue until read;
/// a batch larger than the whole capacity is admitted into an empty queue so that it cannot wait for ever.
/// </remarks>
public sealed class StageQueue
{
    private readonly Queue<PointBatch> _items = new();
    private readonly LinkedList<TaskCompletionSource<bool>> _writers = new();
    private readonly Action<PointBatch, string> _onDrop;
    private readonly object _lock = new();
    private TaskCompletionSource<bool>? _reader;
    private long _depth;
    private bool _completed;

    public StageQueue(string name, long capacity, FullPolicy policy, Action<PointBatch, string> onDrop)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Name = name;
        Capacity = capacity;
        Policy = policy;
        _onDrop = onDrop;
    }

    public string Name { get; }
    public long Capacity { get; }
    public FullPolicy Policy { get; }

    /// <summary>Points queued.</summary>
    public long Depth => Interlocked.Read(ref _depth);

    /// <summary>Batches queued.</summary>
    public int Count { get { lock (_lock) return _items.Count; } }

    /// <summary>
    /// Queues <paramref name="batch"/>, taking ownership of it in every case. Returns false when the batch was
    /// dropped (by <see cref="FullPolicy.DropNewest"/>, or because the queue is completed).
    /// With <see cref="FullPolicy.Backpressure"/> it waits until there is room.
    /// </summary>
    public async ValueTask<bool> WriteAsync(PointBatch batch, CancellationToken cancellationToken = default)
    {
        List<PointBatch>? evicted = null;
        while (true)
        {
            TaskCompletionSource<bool> room;
            lock (_lock)
            {
                if (_completed)
                {
                    Drop(batch, "closed");
                    return false;
                }
                if (Fits(batch.Count) && (_writers.Count == 0 || Policy != FullPolicy.Backpressure))
                {
                    Enqueue(batch);
                    break;
                }
                switch (Policy)
                {
                    case FullPolicy.DropNewest:
                        Drop(batch, "queue_full");
                        return false;
                    case FullPolicy.DropOldest:
                        while (!Fits(batch.Count) && _items.TryDequeue(out var old))
                        {
                            _depth -= old.Count;
                            (evicted ??= new()).Add(old);
                        }
                        Enqueue(batch);
                        break;
                    default:
                        room = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                        _writers.AddLast(room);
                        goto wait;
                }
                break;
            }
        wait:
            using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource<bool>)s!).TrySetCanceled(), room))
            {
                try
                {
                    await room.Task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    lock (_lock)
                    {
                        _writers.Remove(room);
                        WakeWriters();
                    }
                    Drop(batch, "cancelled");
                    throw;
                }
            }
            lock (_lock)
            {
                // Woken as the head of the line: go first even if another writer slipped in, so none starves.
                if (Fits(batch.Count) || _completed)
                {
                    if (_completed) { Drop(batch, "closed"); return false; }
                    Enqueue(batch);
                    WakeWriters();
                    break;
                }
                var again = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                _writers.AddFirst(again);
                room = again;
            }
            goto wait;
        }
        // Callbacks run outside the lock, as the drop handler may log or count.
        if (evicted is not null) foreach (var old in evicted) Drop(old, "evicted");
        return true;
    }

    /// <summary>The next batch, or null once the queue is completed and empty. The caller owns the batch.</summary>
    public async ValueTask<PointBatch?> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            TaskCompletionSource<bool> signal;
            lock (_lock)
            {
                if (_items.TryDequeue(out var batch))
                {
                    _depth -= batch.Count;
                    WakeWriters();
                    return batch;
                }
                if (_completed) return null;
                signal = _reader = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource<bool>)s!).TrySetCanceled(), signal))
                await signal.Task.ConfigureAwait(false);
        }
    }

    /// <summary>No more writes; the reader drains what is queued and then gets null. Waiting writers drop their batch.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            _completed = true;
            _reader?.TrySetResult(true);
            foreach (var w in _writers) w.TrySetResult(false);
            _writers.Clear();
        }
    }

    private bool Fits(int points) => _depth == 0 || _depth + points <= Capacity;

    private void Enqueue(PointBatch batch)
    {
        _items.Enqueue(batch);
        _depth += batch.Count;
        _reader?.TrySetResult(true);
        _reader = null;
    }

    private void WakeWriters()
    {
        if (_writers.First is { } head && Fits(0))
        {
            _writers.RemoveFirst();
            head.Value.TrySetResult(true);
        }
    }

    private void Drop(PointBatch batch, string reason)
    {
        _onDrop(batch, reason);
        batch.Release();
    }
}
