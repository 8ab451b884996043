using Akka.Streams.Dsl;

namespace Ingest.Graph;

/// <summary>
/// <c>.WeightedBuffer(...)</c> on sources and flows. They keep the buffer's control as the materialized value
/// (<c>Keep.Right</c>), since the control is what the branch's sink and gauges need; to keep the upstream's value
/// as well, use <c>ViaMaterialized(new WeightedBuffer&lt;T&gt;(...), Keep.Both)</c>.
/// </summary>
public static class WeightedBufferExtensions
{
    /// <summary>Buffers this source's elements by weight; see <see cref="WeightedBuffer{T}"/>.</summary>
    public static Source<T, IWeightedBufferControl> WeightedBuffer<T, TMat>(
        this Source<T, TMat> source, long capacity, Func<T, long> weight, FullPolicy policy, Action<T, string> onDrop) =>
        source.ViaMaterialized(new WeightedBuffer<T>(capacity, weight, policy, onDrop), Keep.Right);

    /// <summary>Buffers this flow's output by weight; see <see cref="WeightedBuffer{T}"/>.</summary>
    public static Flow<TIn, TOut, IWeightedBufferControl> WeightedBuffer<TIn, TOut, TMat>(
        this Flow<TIn, TOut, TMat> flow, long capacity, Func<TOut, long> weight, FullPolicy policy, Action<TOut, string> onDrop) =>
        flow.ViaMaterialized(new WeightedBuffer<TOut>(capacity, weight, policy, onDrop), Keep.Right);
}
