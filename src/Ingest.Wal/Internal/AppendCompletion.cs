using System.Threading.Tasks.Sources;

namespace Ingest.Wal;

/// <summary>
/// The pooled, reusable completion behind the <see cref="ValueTask{TResult}"/> of an append, so that an append
/// allocates no task. It goes back to the pool when the awaiter reads the result. Continuations run on the
/// thread pool, never on the writer thread.
/// </summary>
internal sealed class AppendCompletion : IValueTaskSource<long>
{
    private readonly CompletionPool _pool;
    private ManualResetValueTaskSourceCore<long> _core;

    public AppendCompletion(CompletionPool pool)
    {
        _pool = pool;
        _core.RunContinuationsAsynchronously = true;
    }

    public short Version => _core.Version;

    public void SetResult(long sequence) => _core.SetResult(sequence);

    public void SetException(Exception exception) => _core.SetException(exception);

    public long GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (token == _core.Version)
            {
                _core.Reset();
                _pool.Return(this);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>A bounded stack of <see cref="AppendCompletion"/>s.</summary>
internal sealed class CompletionPool
{
    private const int MaxPooled = 1024;
    private readonly AppendCompletion[] _items = new AppendCompletion[MaxPooled];
    private int _count;

    public AppendCompletion Rent()
    {
        lock (_items)
        {
            if (_count > 0)
            {
                AppendCompletion item = _items[--_count];
                _items[_count] = null!;
                return item;
            }
        }
        return new AppendCompletion(this);
    }

    public void Return(AppendCompletion item)
    {
        lock (_items)
        {
            if (_count < MaxPooled)
                _items[_count++] = item;
        }
    }
}
