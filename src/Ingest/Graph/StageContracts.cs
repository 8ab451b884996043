using Ingest.LineProtocol;

namespace Ingest.Graph;

/// <summary>Where a transform puts the points it derives (downsampled windows, alert events).</summary>
public interface ITransformOutput
{
    /// <summary>Hands over a derived batch; the output owns it from then on.</summary>
    void Derived(PointBatch batch);
}

/// <summary>
/// A transform: looks at every raw batch and may derive new points from it.
/// Lifecycle: built once from configuration; <see cref="Process"/> is called for every batch in acceptance order,
/// <see cref="Flush"/> on demand and at shutdown.
/// Concurrency: the transform's own branch of the graph calls <see cref="Process"/>, one batch at a time, and a
/// flush never runs at the same time, so a transform keeps its state without locks. It only reads the input batch,
/// which the other branches (raw delivery included) read at the same time. An exception it throws is counted on its
/// stage (<c>ingest_stage_errors_total</c>) and the branch goes on with the next batch.
/// </summary>
public interface ITransformStage
{
    string Name { get; }

    void Process(PointBatch input, ITransformOutput output);

    /// <summary>Emits everything held open (windows), as if event time had moved past it.</summary>
    void Flush(ITransformOutput output);
}

/// <summary>
/// A sink: delivers batches from its own bounded queue to a destination.
/// Lifecycle: <see cref="RunAsync"/> runs from start until its queue is completed and drained.
/// Concurrency: the sink's loop is its queue's only reader; a slow sink fills only its own queue.
/// </summary>
public interface ISinkStage
{
    string Name { get; }

    /// <summary>Runs until the input ends; <paramref name="abort"/> gives up on writes still in flight.</summary>
    Task RunAsync(CancellationToken stopping, CancellationToken abort);
}
