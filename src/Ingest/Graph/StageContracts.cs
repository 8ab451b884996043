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
/// A sink: the end of a branch of the graph, delivering batches to a destination.
/// Lifecycle: <see cref="Create"/> gives it as an Akka.Streams sink, materialized once (the raw sink as the raw
/// branch's end, the others over their queues); its task completes once its input has completed and everything it
/// took has reached an outcome, or once the stop's deadline has cut it.
/// Concurrency: its stages run on the graph's actor and never block it; its writes run off it, in bounded number.
/// It owns every batch it takes and finishes each exactly once, when the destination has it (or has refused it for
/// good); it backpressures, rather than drops, when it holds its budget of points.
/// </summary>
public interface ISinkStage
{
    /// <summary>The sink's stage name (<c>/api/status</c>, metrics, dead-letter blocks).</summary>
    string Name { get; }

    /// <summary>The sink; <paramref name="abort"/> (the stop's deadline) gives up on writes still in flight.</summary>
    Akka.Streams.Dsl.Sink<PointBatch, Task> Create(CancellationToken abort);
}
