using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using Akka.Util;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>
/// Pub/sub mode: SUBSCRIBE to each of <c>Channels</c>, PSUBSCRIBE to each of <c>Patterns</c>; each message is one
/// source message, its channel the subject. At most once: Redis keeps nothing for a subscriber, so what is
/// published while the connection is down is lost, and what arrives while <c>BufferCapacity</c> messages wait is
/// dropped oldest first (counted as <c>buffer_full</c>). The multiplexer sends the subscriptions again on its own
/// when it reconnects.
/// </summary>
internal static class RedisPubSubReader
{
    private sealed record Subscriptions(Channel<SourceMessage> Queue, List<ChannelMessageQueue> Queues);

    public static Source<SourceMessage, NotUsed> Messages(RedisSourceConnector connector, SourceContext context) =>
        Source.UnfoldResourceAsync<SourceMessage, Subscriptions>(
            () => SubscribeAsync(connector, context),
            async s =>
            {
                try
                {
                    return new Option<SourceMessage>(await s.Queue.Reader.ReadAsync(context.Stopping).ConfigureAwait(false));
                }
                catch (OperationCanceledException) when (context.Stopping.IsCancellationRequested)
                {
                    return Option<SourceMessage>.None;
                }
            },
            async s =>
            {
                await UnsubscribeAsync(s.Queues).ConfigureAwait(false);
                return Done.Instance;
            });

    private static async Task<Subscriptions> SubscribeAsync(RedisSourceConnector connector, SourceContext context)
    {
        var multiplexer = await connector.ConnectAsync(context).ConfigureAwait(false);
        // Subscribed only once connected: a SUBSCRIBE that fails for want of a connection stays registered in the
        // client, which sends it again on reconnecting, but without the handler, so the first messages went nowhere.
        var settings = connector.Settings;
        var probe = settings.Channels.Count > 0 ? RedisChannel.Literal(settings.Channels[0]) : RedisChannel.Pattern(settings.Patterns[0]);
        while (!multiplexer.GetSubscriber().IsConnected(probe))
        {
            context.Telemetry.SetState(SourceState.BackingOff, "waiting for Redis to answer");
            await Task.Delay(RedisSourceConnector.LostWait, context.Stopping).ConfigureAwait(false);
        }
        return await RedisSourceConnector.UntilConnectedAsync(context, () => SubscribeAsync(connector, context, multiplexer)).ConfigureAwait(false);
    }

    private static async Task<Subscriptions> SubscribeAsync(RedisSourceConnector connector, SourceContext context, ConnectionMultiplexer multiplexer)
    {
        var telemetry = context.Telemetry;
        var payloadIsLines = connector.Options.Payload.Format == Decoding.PayloadFormat.LineProtocol;
        var queue = Channel.CreateBounded<SourceMessage>(
            new BoundedChannelOptions(connector.Options.BufferCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped => telemetry.Drop("buffer_full", payloadIsLines ? Lines(dropped.Payload.Span) : 1));
        var subscriber = multiplexer.GetSubscriber();
        var queues = new List<ChannelMessageQueue>();
        try
        {
            foreach (var channel in connector.Settings.Channels)
                queues.Add(await subscriber.SubscribeAsync(RedisChannel.Literal(channel)).ConfigureAwait(false));
            foreach (var pattern in connector.Settings.Patterns)
                queues.Add(await subscriber.SubscribeAsync(RedisChannel.Pattern(pattern)).ConfigureAwait(false));
        }
        catch
        {
            await UnsubscribeAsync(queues).ConfigureAwait(false);
            throw;
        }
        foreach (var q in queues)
        {
            q.OnMessage(m =>
            {
                var payload = (byte[]?)m.Message;
                if (payload is null) return;
                queue.Writer.TryWrite(new SourceMessage(payload, SourceMessage.Now(), m.Channel.ToString()));
            });
        }
        telemetry.SetState(SourceState.Connected);
        return new Subscriptions(queue, queues);
    }

    private static async Task UnsubscribeAsync(List<ChannelMessageQueue> queues)
    {
        foreach (var q in queues)
        {
            try
            {
                await q.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (RedisSourceConnector.IsConnectionLoss(e))
            {
            }
        }
    }

    /// <summary>The points a dropped line-protocol message held, about: its lines that are not empty or comments.</summary>
    internal static int Lines(ReadOnlySpan<byte> payload)
    {
        var lines = 0;
        foreach (var range in payload.Split((byte)'\n'))
        {
            var line = payload[range].Trim((byte)' ').Trim((byte)'\r');
            if (line.Length > 0 && line[0] != (byte)'#') lines++;
        }
        return Math.Max(lines, 1);
    }
}
