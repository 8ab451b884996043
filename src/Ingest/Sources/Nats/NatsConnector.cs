using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using Ingest.Sources.Decoding;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ingest.Sources.Nats;

/// <summary>The <c>nats</c> source type: NATS core subjects (at most once) or a JetStream durable pull consumer (at least once).</summary>
internal static class NatsSource
{
    public static readonly SourceType Type = new("nats", SourceDelivery.AtMostOnce, NatsSettings.Read,
        (options, _) => new NatsConnector(options));
}

/// <summary>
/// Reads one <c>nats</c> source over one connection per start. Core: a subscription per subject (in the queue
/// group, if any), which the client makes again after each reconnect; a message the daemon has no room for is
/// dropped by the client (counted as <c>buffer_full</c>). JetStream: the durable pull consumer, created or updated
/// to the configured settings; the client asks for a batch of at most <c>min(MaxAckPending, 1000)</c> messages once
/// the stream has taken the last batch, and each message is acknowledged by the runner only once admitted. Payloads are copied once,
/// from the client's socket buffer into the array the decoder reads.
/// </summary>
internal sealed class NatsConnector(SourceOptions options) : ISourceConnector
{
    /// <summary>Reconnect waits of the client: short, so that a server that returns is used again within 2 s.</summary>
    private static readonly TimeSpan ReconnectWaitMin = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReconnectWaitMax = TimeSpan.FromSeconds(1);
    private const int MaxBatch = 1000;
    private static readonly TimeSpan FetchExpires = TimeSpan.FromSeconds(5);

    private static readonly NatsRawSerializer<ReadOnlyMemory<byte>> Raw = NatsRawSerializer<ReadOnlyMemory<byte>>.Default;

    private readonly NatsSettings _settings = options.SettingsAs<NatsSettings>();

    public SourceDelivery Delivery => _settings.Delivery;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        Source.From(() => _settings.JetStream is { } js ? ReadJetStream(context, js) : ReadCore(context));

    private NatsOpts Options(SourceContext context) => NatsOpts.Default with
    {
        Url = _settings.Url,
        Name = "ingest-" + context.Name,
        AuthOpts = NatsAuthOpts.Default with { Username = _settings.User, Password = _settings.Password, Token = _settings.Token },
        ReconnectWaitMin = ReconnectWaitMin,
        ReconnectWaitMax = ReconnectWaitMax,
        ReconnectJitter = TimeSpan.FromMilliseconds(100),
        MaxReconnectRetry = -1,
        SerializerRegistry = NatsDefaultSerializerRegistry.Default,
    };

    /// <summary>Connects, reporting each connection event in the source's state; fails (for the runner's backoff) when it cannot.</summary>
    private async Task<NatsConnection> ConnectAsync(SourceContext context, CancellationToken cancellationToken)
    {
        var telemetry = context.Telemetry;
        var connection = new NatsConnection(Options(context));
        var opened = 0;
        connection.ConnectionOpened += (_, _) =>
        {
            if (Interlocked.Increment(ref opened) > 1) telemetry.Reconnected();
            telemetry.SetState(SourceState.Connected);
            return ValueTask.CompletedTask;
        };
        connection.ConnectionDisconnected += (_, e) =>
        {
            // The client connects again at once; a failed attempt waits (ReconnectFailed).
            if (!cancellationToken.IsCancellationRequested) telemetry.SetState(SourceState.Connecting, "disconnected from " + _settings.SafeUrl);
            return ValueTask.CompletedTask;
        };
        connection.ReconnectFailed += (_, _) =>
        {
            if (!cancellationToken.IsCancellationRequested) telemetry.SetState(SourceState.BackingOff, "cannot reach " + _settings.SafeUrl);
            return ValueTask.CompletedTask;
        };
        connection.MessageDropped += (_, e) =>
        {
            // The client's pending queue of a subscription was full: the daemon was slower than the publishers.
            telemetry.Drop("buffer_full", e.Data is ReadOnlyMemory<byte> data ? EstimatePoints(data.Span) : 1);
            return ValueTask.CompletedTask;
        };
        try
        {
            await connection.ConnectAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            if (e is OperationCanceledException) throw;
            throw new NatsSourceException($"cannot connect to {_settings.SafeUrl}: {e.Message}", e);
        }
    }

    private async IAsyncEnumerable<SourceMessage> ReadCore(SourceContext context, [EnumeratorCancellation] CancellationToken cancelled = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancelled, context.Stopping);
        var ct = stop.Token;
        await using var connection = await ConnectAsync(context, ct).ConfigureAwait(false);
        var subscriptions = new List<INatsSub<ReadOnlyMemory<byte>>>();
        try
        {
            foreach (var subject in _settings.Subjects)
                subscriptions.Add(await connection.SubscribeCoreAsync(subject, _settings.QueueGroup, Raw, cancellationToken: ct).ConfigureAwait(false));

            if (subscriptions.Count == 1)
            {
                // The common case: the subscription's own queue is read directly.
                var reader = subscriptions[0].Msgs;
                while (await Wait(reader, ct).ConfigureAwait(false))
                {
                    while (reader.TryRead(out var msg))
                        yield return new SourceMessage(msg.Data, SourceMessage.Now(), msg.Subject);
                }
            }
            else
            {
                // Several subjects: each subscription's queue is moved into one, a slot per subject at most.
                var merged = Channel.CreateBounded<NatsMsg<ReadOnlyMemory<byte>>>(new BoundedChannelOptions(subscriptions.Count)
                    { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
                var pumps = subscriptions.Select(s => Pump(s.Msgs, merged.Writer, ct)).ToArray();
                _ = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception?.GetBaseException()), TaskScheduler.Default);
                var reader = merged.Reader;
                while (await Wait(reader, ct).ConfigureAwait(false))
                {
                    while (reader.TryRead(out var msg))
                        yield return new SourceMessage(msg.Data, SourceMessage.Now(), msg.Subject);
                }
            }
        }
        finally
        {
            foreach (var s in subscriptions) await s.DisposeAsync().ConfigureAwait(false);
        }
        // The subscriptions ended without the daemon stopping: the runner connects again after its backoff.
        if (!ct.IsCancellationRequested) throw new NatsSourceException($"the subscriptions on {_settings.SafeUrl} ended");
    }

    private static async Task Pump(ChannelReader<NatsMsg<ReadOnlyMemory<byte>>> from, ChannelWriter<NatsMsg<ReadOnlyMemory<byte>>> to, CancellationToken ct)
    {
        try
        {
            await foreach (var msg in from.ReadAllAsync(ct).ConfigureAwait(false))
                await to.WriteAsync(msg, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>False when the channel completed or the source is stopping.</summary>
    private static async ValueTask<bool> Wait<T>(ChannelReader<T> reader, CancellationToken ct)
    {
        try
        {
            return await reader.WaitToReadAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    private async IAsyncEnumerable<SourceMessage> ReadJetStream(SourceContext context, JetStreamSettings js, [EnumeratorCancellation] CancellationToken cancelled = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancelled, context.Stopping);
        var ct = stop.Token;
        await using var connection = await ConnectAsync(context, ct).ConfigureAwait(false);
        var jetStream = new NatsJSContext(connection);
        var config = new ConsumerConfig(js.Durable)
        {
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = js.AckWait,
            MaxAckPending = js.MaxAckPending,
            DeliverPolicy = js.DeliverNew ? ConsumerConfigDeliverPolicy.New : ConsumerConfigDeliverPolicy.All,
        };
        // One filter goes as filter_subject, which every server with JetStream knows; several need a 2.10 server.
        if (js.FilterSubjects.Count == 1) config.FilterSubject = js.FilterSubjects[0];
        else if (js.FilterSubjects.Count > 1) config.FilterSubjects = js.FilterSubjects.ToList();

        INatsJSConsumer consumer;
        try
        {
            consumer = await jetStream.CreateOrUpdateConsumerAsync(js.Stream, config, ct).ConfigureAwait(false);
        }
        catch (NatsJSApiException e)
        {
            throw new NatsSourceException($"JetStream consumer {js.Durable} on stream {js.Stream}: {e.Error.Description} ({e.Error.Code})", e);
        }
        // One pull request at a time, for at most a batch, made again once the stream has taken the last one: the
        // client never holds more than a batch that the stream has not asked for.
        var fetch = new NatsJSFetchOpts { MaxMsgs = Math.Min(js.MaxAckPending, MaxBatch), Expires = FetchExpires };
        while (!ct.IsCancellationRequested)
        {
            await using var messages = consumer.FetchAsync(fetch, Raw, ct).GetAsyncEnumerator(ct);
            while (true)
            {
                bool more;
                try
                {
                    more = await messages.MoveNextAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    yield break;
                }
                if (!more) break;
                var msg = messages.Current;
                // Acknowledged by the runner once admitted; refused, it is delivered again after the wait admission asked for
                // (a nak with that delay), and, after a crash, after AckWait.
                yield return new SourceMessage(msg.Data, SourceMessage.Now(), msg.Subject,
                    Ack: () => msg.AckAsync(cancellationToken: CancellationToken.None),
                    Nack: wait => msg.NakAsync(delay: wait, cancellationToken: CancellationToken.None));
            }
        }
    }

    /// <summary>Points a dropped line-protocol payload held, as its non-empty lines.</summary>
    internal static long EstimatePoints(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return 0;
        var lines = (long)payload.Count((byte)'\n');
        return payload[^1] == (byte)'\n' ? lines : lines + 1;
    }
}

/// <summary>Why a NATS source's connection or subscription failed (the runner backs off and starts it again).</summary>
internal sealed class NatsSourceException(string message, Exception? inner = null) : Exception(message, inner);
