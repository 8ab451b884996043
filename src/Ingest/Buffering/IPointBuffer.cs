using Ingest.LineProtocol;

namespace Ingest.Buffering;

/// <summary>
/// Holds acknowledged batches until the sinks have delivered them. Capacity is counted in points, and a point
/// counts from the moment it is accepted until the sink reports it delivered (not merely dequeued), so the
/// capacity bounds the memory that an InfluxDB outage can pin.
/// </summary>
/// <remarks>
/// Concurrency: <see cref="TryEnqueueAsync"/>, <see cref="TryReserveAsync"/> and <see cref="EnqueueReserved"/> are
/// called by any number of request threads; <see cref="ReadAllAsync"/> has a single consumer (the sink runner);
/// <see cref="Release"/> may be called from any thread.
/// </remarks>
public interface IPointBuffer
{
    /// <summary>Maximum points held.</summary>
    long Capacity { get; }

    /// <summary>Points accepted and not yet released.</summary>
    long Depth { get; }

    /// <summary>
    /// Takes ownership of <paramref name="batch"/> when there is room, waiting up to <paramref name="wait"/> for it.
    /// Returns false (the caller keeps the batch) when the buffer stayed full or is closed.
    /// A batch larger than the whole capacity is admitted when the buffer is empty, so that it cannot wait for ever.
    /// </summary>
    ValueTask<bool> TryEnqueueAsync(PointBatch batch, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reserves room for <paramref name="points"/> points, waiting up to <paramref name="wait"/> for it, in the
    /// same first-come order as <see cref="TryEnqueueAsync"/>. The room is then the caller's: it hands it on with
    /// <see cref="EnqueueReserved"/> or gives it back with <see cref="Release"/>. Lets a write be refused before it
    /// is logged, so that a refused write is never replayed.
    /// </summary>
    ValueTask<bool> TryReserveAsync(int points, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes ownership of <paramref name="batch"/> into room reserved for exactly its points. Returns false when
    /// the buffer was completed meanwhile (the room is given back and the caller keeps the batch).
    /// </summary>
    bool EnqueueReserved(PointBatch batch);

    /// <summary>Batches in acceptance order.</summary>
    IAsyncEnumerable<PointBatch> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>Frees room for <paramref name="points"/> points once they are delivered or deliberately dropped.</summary>
    void Release(int points);

    /// <summary>Refuses new batches; the reader drains what is left and then ends.</summary>
    void Complete();
}
