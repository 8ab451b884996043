namespace Ingest.Graph;

/// <summary>
/// The handle a materialized <see cref="WeightedBuffer{T}"/> gives to the code that delivers its elements: the
/// sink reports here what it has delivered, and gauges read how much the buffer holds.
/// </summary>
/// <remarks>
/// All members may be called from any thread, at any time, including before the stream has started and after it
/// has stopped.
/// </remarks>
public interface IWeightedBufferControl
{
    /// <summary>The weight budget the buffer was built with.</summary>
    long Capacity { get; }

    /// <summary>
    /// Weight queued in the buffer plus weight emitted and not yet released. A release becomes visible here once
    /// the stage has applied it, a moment after <see cref="Release"/> returns. It exceeds <see cref="Capacity"/>
    /// only by one element: one heavier than the capacity, admitted while nothing was held, or the one that was
    /// waiting for room when the upstream completed.
    /// </summary>
    long Held { get; }

    /// <summary>
    /// Reports that elements of this total weight, emitted by the buffer, are delivered, so that their weight no
    /// longer counts against <see cref="Capacity"/>. Call it once the element's effect is durable (after the
    /// InfluxDB write succeeded), not when the element is received: releasing early is what lets a slow writer
    /// pile up work in its own queue.
    /// </summary>
    /// <remarks>
    /// Releasing more than is in flight releases only what is in flight: the surplus is not kept as credit for
    /// later elements, since that would let the buffer hold more than its capacity.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is negative.</exception>
    void Release(long weight);
}

/// <summary>
/// The <see cref="IWeightedBufferControl"/> of one materialized <see cref="WeightedBuffer{T}"/>. Releases made from
/// other threads are summed in one interlocked counter and handed to the stage through its async callback, so the
/// stage's own state is only ever touched on its own thread.
/// </summary>
/// <remarks>
/// Releases come from sink threads, often many per second, and each async callback costs the stage a message. Only
/// the release that makes the pending sum non-zero wakes the stage; releases made before the stage takes the sum
/// ride along in it. After the stage has stopped (upstream completion does not wait for releases) a release is
/// taken off <see cref="Held"/> here, so the gauge still falls to zero as the last writes land.
/// </remarks>
internal sealed class WeightedBufferControl : IWeightedBufferControl
{
    private const int NotStarted = 0;
    private const int Running = 1;
    private const int Stopped = 2;

    private readonly Action _wakeStage;
    private long _pending;
    private long _held;
    private int _state;

    public WeightedBufferControl(long capacity, Action wakeStage)
    {
        Capacity = capacity;
        _wakeStage = wakeStage;
    }

    public long Capacity { get; }

    public long Held => Volatile.Read(ref _held);

    public void Release(long weight)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(weight);
        // Whoever moves the sum off zero owes it a taker; a release that finds it non-zero is already owed one.
        if (weight == 0 || Interlocked.Add(ref _pending, weight) != weight)
            return;
        switch (Volatile.Read(ref _state))
        {
            case Running:
                _wakeStage();
                break;
            case Stopped:
                TakeOffHeldAfterStop();
                break;
            // Not started: the stage takes the sum as it starts.
        }
    }

    /// <summary>Called by the stage as it starts, before it takes the first pending sum.</summary>
    internal void Start() => Volatile.Write(ref _state, Running);

    /// <summary>Takes the weight released since the last call. Stage thread only while running.</summary>
    internal long TakeReleased() => Interlocked.Exchange(ref _pending, 0);

    /// <summary>Publishes the stage's held weight for readers on other threads. Stage thread only.</summary>
    internal void Publish(long held) => Volatile.Write(ref _held, held);

    /// <summary>
    /// Called by the stage as it stops, with the weight still in flight. From here on releases are taken off
    /// <see cref="Held"/> by the releasing thread; a release that woke the stage too late to be handled is still
    /// pending, and is taken here.
    /// </summary>
    internal void Stop(long inFlight)
    {
        Publish(inFlight);
        Volatile.Write(ref _state, Stopped);
        TakeOffHeldAfterStop();
    }

    private void TakeOffHeldAfterStop()
    {
        var released = TakeReleased();
        if (released == 0)
            return;
        long held, left;
        do
        {
            held = Volatile.Read(ref _held);
            left = Math.Max(0, held - released);
        }
        while (Interlocked.CompareExchange(ref _held, left, held) != held);
    }
}
