using Akka.Streams;
using Akka.Streams.Stage;

namespace Ingest.Graph;

/// <summary>
/// A bounded buffer for one branch of the graph whose budget is a weight (points, for <c>PointBatch</c>es) rather
/// than an element count, and whose budget is given back only when the downstream reports an element delivered,
/// not when the element leaves the buffer. A branch's memory is bounded by what it has taken and not yet written,
/// wherever that sits: in this buffer or in the sink's own batching and retries.
/// </summary>
/// <remarks>
/// <para>
/// It materializes an <see cref="IWeightedBufferControl"/>: the sink calls <see cref="IWeightedBufferControl.Release"/>
/// with an element's weight once it has delivered it (for the raw branch, after the InfluxDB write succeeded), and
/// gauges read <see cref="IWeightedBufferControl.Held"/>. Placed after a Broadcast, one per branch:
/// </para>
/// <code>
/// var (control, done) = source
///     .ViaMaterialized(
///         new WeightedBuffer&lt;PointBatch&gt;(500_000, batch =&gt; batch.Count, FullPolicy.Backpressure,
///             (batch, reason) =&gt; { telemetry.Dropped(batch.Count, reason); PointBatch.Return(batch); }),
///         Keep.Right)
///     .ToMaterialized(influxSink, Keep.Both)
///     .Run(materializer);
/// // in the sink, after a write succeeded:
/// control.Release(batch.Count);
/// </code>
/// <para>
/// It pulls eagerly while there is room and emits whenever the downstream pulls. An element heavier than the whole
/// capacity is admitted when nothing is held, since it could never fit otherwise and the branch would stop for good;
/// until it is released, nothing else is admitted.
/// </para>
/// <para>
/// The <see cref="FullPolicy"/> says what happens to an element that arrives without room.
/// <see cref="FullPolicy.Backpressure"/>: it waits in the stage, outside the budget, and nothing more is pulled
/// until releases make room for it. <see cref="FullPolicy.DropNewest"/>: it is dropped. <see cref="FullPolicy.DropOldest"/>:
/// the oldest queued elements are dropped until it fits; emitted elements cannot be recalled, so when the weight
/// in flight alone leaves no room, it is the one dropped. Under both drop policies the stage never stops pulling,
/// so the upstream (and, through a Broadcast, every other branch) never waits on this one.
/// </para>
/// <para>
/// Nothing is lost without a word: every element that will not be emitted — dropped for want of room, or left
/// queued when the stream fails or is cancelled — goes to the drop callback with a
/// <see cref="WeightedBufferDropReason"/>, so the caller can count it and return what it holds to its pool. The
/// callback runs on the stage's thread and must not block or throw.
/// </para>
/// <para>
/// When the upstream completes, whatever is queued (and the element waiting for room, over budget) is still
/// emitted, then the stage completes without waiting for the releases of what it emitted. When the upstream fails
/// the stage fails at once. Per element it allocates nothing beyond the queue's growth.
/// </para>
/// </remarks>
/// <typeparam name="T">The element type, <c>PointBatch</c> in the daemon.</typeparam>
public sealed partial class WeightedBuffer<T> : GraphStageWithMaterializedValue<FlowShape<T, T>, IWeightedBufferControl>
{
    /// <param name="capacity">The weight budget, positive: the most weight held, queued plus emitted and not released.</param>
    /// <param name="weight">
    /// The weight of an element, zero or more; taken once on arrival and kept with the element, so that what is
    /// released later need not be measured again.
    /// </param>
    /// <param name="policy">
    /// What to do with an element that arrives when there is no room for it: the same choice, from the same
    /// configuration, as for a <see cref="StageQueue"/>.
    /// </param>
    /// <param name="onDrop">Called with every element that will not be emitted and the reason why.</param>
    public WeightedBuffer(long capacity, Func<T, long> weight, FullPolicy policy, Action<T, string> onDrop)
    {
        if (capacity <= 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The weight capacity must be positive.");
        if (!Enum.IsDefined(policy))
            throw new ArgumentOutOfRangeException(nameof(policy), policy, "Not a FullPolicy value.");
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(onDrop);

        Capacity = capacity;
        Weight = weight;
        Policy = policy;
        OnDrop = onDrop;
        Shape = new FlowShape<T, T>(In, Out);
    }

    public long Capacity { get; }

    public Func<T, long> Weight { get; }

    public FullPolicy Policy { get; }

    public Action<T, string> OnDrop { get; }

    public Inlet<T> In { get; } = new("weightedBuffer.in");

    public Outlet<T> Out { get; } = new("weightedBuffer.out");

    public override FlowShape<T, T> Shape { get; }

    protected override Attributes InitialAttributes { get; } = Attributes.CreateName("weightedBuffer");

    public override ILogicAndMaterializedValue<IWeightedBufferControl> CreateLogicAndMaterializedValue(Attributes inheritedAttributes)
    {
        var logic = new Logic(this);
        return new LogicAndMaterializedValue<IWeightedBufferControl>(logic, logic.Control);
    }
}
