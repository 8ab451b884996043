using Ingest.LineProtocol;

namespace Ingest.Buffering;

/// <summary>
/// Holds acknowledged batches until the sinks have delivered them. Capacity is counted in points, and a point
/// counts from the moment it is accepted until the sink reports it delivered (not merely dequeued), so the
/// capacity bounds the memory that an InfluxDB outage can pin.
/// </summary>
/// <remarks>
/// Concurrency: <see cref="TryEnqueueAsync"/> is called by any number of request threads; <see cref="Reader"/>
/// has a single consumer (the sink runner); <see cref="Release"/> may be called from any thread.
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

    /// <summary>Batches in acceptance order.</summary>
    IAsyncEnumerable<PointBatch> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>Frees room for <paramref name="points"/> points once they are delivered or deliberately dropped.</summary>
    void Release(int points);

    /// <summary>Refuses new batches; the reader drains what is left and then ends.</summary>
    void Complete();
}
