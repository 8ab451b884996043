
namespace Ingest.Graph;

/// <summary>
/// The reasons a <see cref="WeightedBuffer{T}"/> hands to its drop callback, fixed strings meant to be the
/// <c>reason</c> label of <c>ingest_stage_dropped_total</c> as they are. The two for a full buffer are those a
/// <see cref="StageQueue"/> reports, so dashboards and alerts read the same after the move to the graph.
/// </summary>
public static class WeightedBufferDropReason
{
    /// <summary>The arriving element had no room and was dropped (<see cref="FullPolicy.DropNewest"/>, or
    /// <see cref="FullPolicy.DropOldest"/> when the weight in flight alone leaves no room).</summary>
    public const string QueueFull = "queue_full";

    /// <summary>A queued element was dropped to make room for a newer one (<see cref="FullPolicy.DropOldest"/>).</summary>
    public const string Evicted = "evicted";

    /// <summary>
    /// The stream failed (upstream failed, the weight function threw or gave a negative weight, the stream was torn
    /// down) before the element was emitted.
    /// </summary>
    public const string Failed = "failed";

    /// <summary>Downstream cancelled before the element was emitted.</summary>
    public const string Cancelled = "cancelled";
}
