using System.Threading.Channels;
using Ingest.LineProtocol;

namespace Ingest.Buffering;

/// <summary>
/// In-memory <see cref="IPointBuffer"/>: an unbounded channel of batches gated by a point budget. The budget,
/// not the channel, is the bound, because batches vary from one point to hundreds of thousands.
/// Waiting writers are served first come, first served, so a large batch is not starved by small ones.
/// </summary>
public sealed class MemoryPointBuffer : IPointBuffer
{
    private readonly Channel<PointBatch> _channel = Channel.CreateUnbounded<PointBatch>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly object _lock = new();
    private long _depth;
    private bool _completed;

    public MemoryPointBuffer(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public long Capacity { get; }

    public long Depth => Interlocked.Read(ref _depth);

    public ValueTask<bool> TryEnqueueAsync(PointBatch batch, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AdmitAsync(batch.Count, batch, wait, cancellationToken);

    public ValueTask<bool> TryReserveAsync(int points, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AdmitAsync(points, null, wait, cancellationToken);

    public bool EnqueueReserved(PointBatch batch)
    {
        lock (_lock)
        {
            if (!_completed && _channel.Writer.TryWrite(batch)) return true;
            _depth -= batch.Count;
            AdmitWaiters();
            return false;
        }
    }

    /// <summary>Admits <paramref name="points"/> (with <paramref name="batch"/>, or as a reservation when null).</summary>
    private async ValueTask<bool> AdmitAsync(int points, PointBatch? batch, TimeSpan wait, CancellationToken cancellationToken)
    {
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            if (_completed) return false;
            if (_waiters.Count == 0 && Fits(points))
            {
                Admit(points, batch);
                return true;
            }
            if (wait <= TimeSpan.Zero) return false;
            node = _waiters.AddLast(new Waiter(points, batch));
        }

        var waiter = node.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        await using (timeout.Token.UnsafeRegister(static (state, _) => ((Waiter)state!).Signal.TrySetResult(false), waiter))
        {
            var admitted = await waiter.Signal.Task.ConfigureAwait(false);
            if (admitted) return true;
        }

        lock (_lock)
        {
            // The release path may have admitted the batch between the timeout and this lock.
            if (waiter.Admitted) return true;
            if (node.List is not null) _waiters.Remove(node);
            // Removing a large waiter from the head can let smaller ones behind it in.
            AdmitWaiters();
        }
        return false;
    }

    public IAsyncEnumerable<PointBatch> ReadAllAsync(CancellationToken cancellationToken) =>
        _channel.Reader.ReadAllAsync(cancellationToken);

    public void Release(int points)
    {
        if (points <= 0) return;
        lock (_lock)
        {
            _depth -= points;
            if (_depth < 0) throw new InvalidOperationException("released more points than the buffer holds");
            AdmitWaiters();
        }
    }

    public void Complete()
    {
        lock (_lock)
        {
            _completed = true;
            foreach (var w in _waiters) w.Signal.TrySetResult(false);
            _waiters.Clear();
        }
        _channel.Writer.TryComplete();
    }

    private bool Fits(int points) => _depth == 0 || _depth + points <= Capacity;

    private void Admit(int points, PointBatch? batch)
    {
        _depth += points;
        // Unbounded and not completed under the lock: the write cannot fail.
        if (batch is not null) _channel.Writer.TryWrite(batch);
    }

    private void AdmitWaiters()
    {
        while (_waiters.First is { } first && Fits(first.Value.Points))
        {
            _waiters.RemoveFirst();
            if (!first.Value.Signal.TrySetResult(true)) continue; // timed out already; it cleans up itself
            first.Value.Admitted = true;
            Admit(first.Value.Points, first.Value.Batch);
        }
    }

    private sealed class Waiter(int points, PointBatch? batch)
    {
        public int Points { get; } = points;
        /// <summary>The batch to enqueue once admitted; null for a reservation.</summary>
        public PointBatch? Batch { get; } = batch;
        public TaskCompletionSource<bool> Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Admitted { get; set; }
    }
}
