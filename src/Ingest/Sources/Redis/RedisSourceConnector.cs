using Akka;
using Akka.Streams.Dsl;
using Akka.Util;
using Ingest.Sinks.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>
/// A <c>redis</c> source: its own multiplexer (blocking reads and a backlog of acknowledgements must not stall the
/// daemon's live-state writer), kept for the daemon's lifetime across restarts of the stream. A lost connection
/// does not fail the stream: the multiplexer reconnects on its own (every 250 ms, with a heartbeat each 500 ms),
/// re-sends the subscriptions, and each mode's read loop waits for it, showing the source backing off meanwhile;
/// each restored connection after a loss counts one reconnect. What fails the stream (a key of the wrong type, a
/// server that refuses a command) is restarted with backoff by the runner.
/// </summary>
internal sealed partial class RedisSourceConnector(SourceOptions options, RedisSourceSettings settings) : ISourceConnector
{
    /// <summary>How long a read loop waits before asking again while the connection is down.</summary>
    internal static readonly TimeSpan LostWait = TimeSpan.FromMilliseconds(250);

    private readonly SemaphoreSlim _connecting = new(1, 1);
    private ConnectionMultiplexer? _multiplexer;
    private int _lost;

    public SourceOptions Options { get; } = options;
    public RedisSourceSettings Settings { get; } = settings;

    public SourceDelivery Delivery => Settings.Mode switch
    {
        RedisSourceMode.PubSub => SourceDelivery.AtMostOnce,
        RedisSourceMode.Stream or RedisSourceMode.List => SourceDelivery.AtLeastOnce,
        _ => SourceDelivery.Polled,
    };

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) => Settings.Mode switch
    {
        RedisSourceMode.PubSub => RedisPubSubReader.Messages(this, context),
        RedisSourceMode.Stream => Pulled(context, () => new RedisStreamReader(this, context)),
        RedisSourceMode.List => Pulled(context, () => new RedisListReader(this, context)),
        _ => Pulled(context, () => new RedisHashPoller(this, context)),
    };

    /// <summary>
    /// A source that reads only when pulled: each pull takes a message of the reader's read-ahead (at most
    /// <c>Count</c> entries), reading the next ones when it is empty. Completes when the daemon stops.
    /// </summary>
    private static Source<SourceMessage, NotUsed> Pulled(SourceContext context, Func<IPulledReader> create) =>
        Source.UnfoldResourceAsync<SourceMessage, IPulledReader>(
            async () =>
            {
                var reader = create();
                await reader.StartAsync().ConfigureAwait(false);
                return reader;
            },
            async reader =>
            {
                try
                {
                    return await reader.NextAsync().ConfigureAwait(false) is { } message ? new Option<SourceMessage>(message) : Option<SourceMessage>.None;
                }
                catch (OperationCanceledException) when (context.Stopping.IsCancellationRequested)
                {
                    return Option<SourceMessage>.None;
                }
            },
            _ => Task.FromResult(Done.Instance));

    /// <summary>The source's multiplexer, connected on first use; a server that is down is waited for, not an error.</summary>
    public async Task<ConnectionMultiplexer> ConnectAsync(SourceContext context)
    {
        if (_multiplexer is { } ready) return ready;
        await _connecting.WaitAsync(context.Stopping).ConfigureAwait(false);
        try
        {
            if (_multiplexer is null)
            {
                var text = Settings.Configuration.Length > 0 ? Settings.Configuration : context.Daemon.Redis.Configuration;
                var config = RedisConnection.Options(text);
                config.ClientName = "ingest-source-" + context.Name;
                // The source's promise is to resume within a couple of seconds of the server's return.
                config.ReconnectRetryPolicy = new LinearRetry(250);
                config.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
                var telemetry = context.Telemetry;
                multiplexer.ConnectionFailed += (_, e) =>
                {
                    Volatile.Write(ref _lost, 1);
                    telemetry.SetState(SourceState.BackingOff, $"{e.FailureType}: {e.Exception?.GetBaseException().Message}");
                };
                multiplexer.ConnectionRestored += (_, _) =>
                {
                    // Each connection of the multiplexer (commands, subscriptions) is restored on its own: one reconnect.
                    if (Interlocked.Exchange(ref _lost, 0) == 1) telemetry.Reconnected();
                    // Subscriptions are sent again by the client itself; the other modes show connected once their
                    // next command (creating the group, a read) has gone through.
                    if (Settings.Mode == RedisSourceMode.PubSub) telemetry.SetState(SourceState.Connected);
                };
                // Acknowledgements of what is drained after the stop still need it: closed once the daemon is done.
                context.Stopping.Register(() => _ = Task.Delay(TimeSpan.FromSeconds(15)).ContinueWith(_ => multiplexer.Dispose(), TaskScheduler.Default));
                _multiplexer = multiplexer;
                if (!multiplexer.IsConnected) LogWaiting(context.Logger, context.Name, RedisConnection.Redact(text));
            }
            return _multiplexer;
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>
    /// An acknowledgement (XACK, LREM) sent without waiting for its answer: the runner acknowledges a batch's
    /// messages one after the other, and a round trip each would bound the source's rate. The commands still go
    /// out in order on the one connection. One that fails leaves its entry pending (its element in the
    /// processing list), delivered again after a restart or a claim; the failure is logged here.
    /// </summary>
    public ValueTask Acknowledge(SourceContext context, Task sent)
    {
        if (sent.IsCompleted)
        {
            if (sent.IsFaulted) LogAckFailed(context.Logger, context.Name, sent.Exception!.GetBaseException().Message);
            return ValueTask.CompletedTask;
        }
        sent.ContinueWith(t => LogAckFailed(context.Logger, context.Name, t.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source}: an admitted message could not be acknowledged to Redis (it will be delivered again): {Error}")]
    private static partial void LogAckFailed(ILogger logger, string source, string error);

    /// <summary>A command failed because the connection is down (not a refusal by the server).</summary>
    public static bool IsConnectionLoss(Exception e) => e is RedisConnectionException or RedisTimeoutException;

    /// <summary>
    /// Runs <paramref name="step"/> until it gets through: a server that is down (at start, say) is waited for here,
    /// not left to the runner's backoff, which may be 30 s long by the time the server returns.
    /// </summary>
    public static async Task<T> UntilConnectedAsync<T>(SourceContext context, Func<Task<T>> step)
    {
        while (true)
        {
            context.Stopping.ThrowIfCancellationRequested();
            try
            {
                return await step().ConfigureAwait(false);
            }
            catch (Exception e) when (IsConnectionLoss(e))
            {
                await WaitForConnectionAsync(context, e).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The read loop of a reader that queues what it reads (streams, lists): calls <paramref name="read"/> until
    /// <paramref name="ready"/> holds a message, waiting out a lost connection, and <paramref name="pollInterval"/>
    /// after a read that found nothing. <paramref name="recover"/> mends a refusal of the server the reader knows
    /// (true: read again); any other refusal is thrown.
    /// </summary>
    public static async Task<SourceMessage> NextReadyAsync(SourceContext context, Queue<SourceMessage> ready, Func<Task<bool>> read,
        TimeSpan pollInterval, Func<RedisServerException, Task<bool>>? recover = null)
    {
        while (ready.Count == 0)
        {
            context.Stopping.ThrowIfCancellationRequested();
            bool found;
            try
            {
                found = await read().ConfigureAwait(false);
                context.Telemetry.SetState(SourceState.Connected);
            }
            catch (Exception e) when (IsConnectionLoss(e))
            {
                await WaitForConnectionAsync(context, e).ConfigureAwait(false);
                continue;
            }
            catch (RedisServerException e) when (recover is not null)
            {
                if (await recover(e).ConfigureAwait(false)) continue;
                throw;
            }
            if (!found) await Task.Delay(pollInterval, context.Stopping).ConfigureAwait(false);
        }
        return ready.Dequeue();
    }

    /// <summary>Shows the loss and waits a little before the read loop asks again.</summary>
    public static async Task WaitForConnectionAsync(SourceContext context, Exception e)
    {
        context.Telemetry.SetState(SourceState.BackingOff, e.Message);
        await Task.Delay(LostWait, context.Stopping).ConfigureAwait(false);
    }

    /// <summary>Unix ns now.</summary>
    public static long Now() => SourceMessage.Now();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source}: Redis {Configuration} does not answer yet; reading starts once it does")]
    private static partial void LogWaiting(ILogger logger, string source, string configuration);
}

/// <summary>A mode that reads only when pulled.</summary>
internal interface IPulledReader
{
    /// <summary>Connects and prepares (creates the group, finds what a crash left); may fail the stream.</summary>
    Task StartAsync();

    /// <summary>The next message, waiting for one; null once the daemon stops.</summary>
    Task<SourceMessage?> NextAsync();
}
