using System.Buffers;
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

    /// <summary>Most payload bytes joined into one message.</summary>
    public const long CoalesceBytes = 256 * 1024;

    /// <summary>Line-protocol messages joined while the runner was busy: the first as it came, the others appended.</summary>
    private sealed class Joined
    {
        private readonly SourceMessage _first;
        private System.Buffers.ArrayBufferWriter<byte>? _joined;
        private int _count = 1;

        private Joined(SourceMessage first) => _first = first;

        public static Joined Start(SourceMessage message) => new(message);

        public static Joined Add(Joined joined, SourceMessage message)
        {
            if (joined._joined is null)
            {
                joined._joined = new System.Buffers.ArrayBufferWriter<byte>(Math.Max(4096, joined._first.Payload.Length * 4));
                joined._joined.Write(joined._first.Payload.Span);
            }
            joined._joined.Write("\n"u8);
            joined._joined.Write(message.Payload.Span);
            joined._count++;
            return joined;
        }

        /// <summary>One message: the first one's arrival time (a line without a timestamp gets it) and subject.</summary>
        public SourceMessage ToMessage() => _joined is null ? _first : _first with { Payload = _joined.WrittenMemory, Joined = _count };
    }

    public static Source<SourceMessage, NotUsed> Run(SourceContext context, Func<ChannelWriter<SourceMessage>, CancellationToken, Task> loop)
    {
        var channel = Channel.CreateBounded<SourceMessage>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping);
        var messages = ChannelSource.FromReader(channel.Reader);
        // Line protocol stays line protocol when messages are joined by LF: while the runner is busy, the messages
        // waiting are joined into one (up to CoalesceBytes), so that many small messages (a point each) cross the
        // graph as one element instead of one element each.
        if (context.Options.Payload.Format == Decoding.PayloadFormat.LineProtocol)
            messages = messages.BatchWeighted(CoalesceBytes, m => m.Payload.Length + 1, Joined.Start, Joined.Add).Select(j => j.ToMessage());
        return messages
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
