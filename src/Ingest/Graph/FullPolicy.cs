namespace Ingest.Graph;

/// <summary>
/// What a stage queue (<see cref="StageQueue"/>, or in the stream graph <see cref="Graph.WeightedBuffer{T}"/>) does
/// with a batch that does not fit.
/// </summary>
public enum FullPolicy
{
    /// <summary>The writer waits for room: nothing is lost, and the slowness travels upstream (default).</summary>
    Backpressure,

    /// <summary>The oldest queued batches are dropped (and counted) to make room: for live views, where new beats old.</summary>
    DropOldest,

    /// <summary>The incoming batch is dropped (and counted): the queue keeps what it has.</summary>
    DropNewest,
}
