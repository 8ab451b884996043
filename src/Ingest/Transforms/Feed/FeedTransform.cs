using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Sinks.Feed;

namespace Ingest.Transforms.Feed;

/// <summary>
/// The live feed as a stage of the graph: hands every raw batch to the feed (a reference queued for its
/// dispatcher, which matches it against the subscriptions on its own task; nothing is matched here).
/// </summary>
public sealed class FeedTransform(FeedHub hub) : ITransformStage
{
    public string Name => "feed";

    public void Process(PointBatch input, ITransformOutput output) => hub.PublishPoints(input);

    public void Flush(ITransformOutput output)
    {
    }
}
