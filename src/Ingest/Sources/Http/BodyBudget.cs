using System.Diagnostics;
using Ingest.LineProtocol;

namespace Ingest.Sources.Http;

/// <summary>
/// The memory all request bodies may hold at once (<c>Http:MaxBodyBytesInFlight</c>), shared by every request.
/// A body reserves the bytes of each buffer before it allocates it and gives them back when its request ends.
/// </summary>
/// <remarks>
/// <c>Http:MaxBodySize</c> bounds one request, not many: fifty clients each sending a few kilobytes of gzip
/// that expand to twenty megabytes, then holding their connections, would otherwise make the daemon hold a
/// gigabyte. Thread-safe; waiting is first come, not strictly first served.
/// </remarks>
public sealed class BodyBudget(long capacity)
{
    private long _inFlight;
    private long _peak;
    private long _largeReleased;
    private int _waiters;
    private TaskCompletionSource _released = NewSignal();

    /// <summary>Most bytes bodies may hold together.</summary>
    public long Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>Bytes reserved by bodies now.</summary>
    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Most bytes reserved at once since start.</summary>
    public long Peak => Volatile.Read(ref _peak);

    /// <summary>
    /// Bytes of buffers too large for the shared pool given back since start: garbage until a full collection
    /// (see <see cref="BodyMemoryReclaimer"/>).
    /// </summary>
    public long LargeBytesReleased => Interlocked.Read(ref _largeReleased);

    /// <summary>
    /// Reserves <paramref name="bytes"/>, waiting up to <paramref name="wait"/> for other requests to give some
    /// back; false when they did not in time. Cancellation throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public async ValueTask<bool> TryAcquireAsync(long bytes, TimeSpan wait, CancellationToken ct)
    {
        if (TryTake(bytes)) return true;
        if (bytes > Capacity || wait <= TimeSpan.Zero) return false;
        long deadline = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        Interlocked.Increment(ref _waiters);
        try
        {
            while (true)
            {
                // Taken before the attempt: a release that lands after a failed attempt completes this signal.
                var released = Volatile.Read(ref _released).Task;
                if (TryTake(bytes)) return true;
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (left <= TimeSpan.Zero) return false;
                try
                {
                    await released.WaitAsync(left, ct).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return TryTake(bytes);
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    /// <summary>Gives back bytes reserved with <see cref="TryAcquireAsync"/>.</summary>
    public void Release(long bytes)
    {
        if (bytes <= 0) return;
        Interlocked.Add(ref _inFlight, -bytes);
        if (bytes > ByteBuffers.MaxPooledLength) Interlocked.Add(ref _largeReleased, bytes);
        if (Volatile.Read(ref _waiters) > 0) Interlocked.Exchange(ref _released, NewSignal()).TrySetResult();
    }

    private bool TryTake(long bytes)
    {
        while (true)
        {
            long current = Volatile.Read(ref _inFlight);
            long next = current + bytes;
            if (next > Capacity) return false;
            if (Interlocked.CompareExchange(ref _inFlight, next, current) != current) continue;
            long peak;
            while (next > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, next, peak) != peak) { }
            return true;
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
