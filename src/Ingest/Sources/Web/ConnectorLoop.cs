using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;

namespace Ingest.Sources.Web;

/// <summary>
/// A connector's receive loop as the stream the runner takes: the loop starts when the stream is materialized,
/// writes into a bounded channel (waiting while it is full, which holds the upstream back rather than dropping
/// unseen), and is cancelled when the stream ends or the daemon stops. The loop keeps itself connected; if it
/// throws, the stream fails and the runner starts the source again.
/// </summary>
internal static class ConnectorLoop
{
    public const int Capacity = 1024;

    public static Source<SourceMessage, NotUsed> Run(SourceContext context, Func<ChannelWriter<SourceMessage>, CancellationToken, Task> loop)
    {
        var channel = Channel.CreateBounded<SourceMessage>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping);
        return ChannelSource.FromReader(channel.Reader)
            .WatchTermination((_, ended) =>
            {
                ended.ContinueWith(_ => lifetime.Cancel(), TaskContinuationOptions.ExecuteSynchronously);
                return NotUsed.Instance;
            })
            .MapMaterializedValue(notUsed =>
            {
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await loop(channel.Writer, lifetime.Token).ConfigureAwait(false);
                        channel.Writer.TryComplete();
                    }
                    catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
                    {
                        channel.Writer.TryComplete();
                    }
                    catch (Exception e)
                    {
                        channel.Writer.TryComplete(e);
                    }
                });
                return NotUsed.Instance;
            });
    }
}
