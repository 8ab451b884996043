using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>
/// List mode: each element of <c>Key</c> is one message, moved atomically (LMOVE, from the list's tail to the
/// processing list's head: producers LPUSH) into <c>ProcessingKey</c>, and removed from there (LREM) only by the
/// message's Ack, once admitted. At start, what a crash left in the processing list is delivered first, oldest
/// first. Reads only when pulled, at most <c>Count</c> elements at a time (pipelined LMOVEs once the first found
/// one); an empty list is asked again every <c>PollInterval</c>.
/// </summary>
internal sealed partial class RedisListReader(RedisSourceConnector connector, SourceContext context) : IPulledReader
{
    private readonly RedisSourceSettings _settings = connector.Settings;
    private readonly Queue<SourceMessage> _ready = new();
    private IDatabase _db = null!;
    private RedisKey _key, _processing;
    private RedisValue[]? _leftover;

    public async Task StartAsync()
    {
        _db = (await connector.ConnectAsync(context).ConfigureAwait(false)).GetDatabase();
        _key = _settings.Key;
        _processing = _settings.ProcessingKey;
        _leftover = await RedisSourceConnector.UntilConnectedAsync(context, () => _db.ListRangeAsync(_processing)).ConfigureAwait(false);
        if (_leftover.Length > 0) LogLeftover(context.Logger, context.Name, _leftover.Length, _settings.ProcessingKey);
        context.Telemetry.SetState(SourceState.Connected);
    }

    public async Task<SourceMessage?> NextAsync()
    {
        if (_leftover is { } leftover)
        {
            // Pushed at the head as they were taken: the oldest is at the tail.
            for (var i = leftover.Length - 1; i >= 0; i--) Take(leftover[i]);
            _leftover = null;
        }
        return await RedisSourceConnector.NextReadyAsync(context, _ready, ReadAsync, _settings.PollInterval).ConfigureAwait(false);
    }

    private async Task<bool> ReadAsync()
    {
        var first = await _db.ListMoveAsync(_key, _processing, ListSide.Right, ListSide.Left).ConfigureAwait(false);
        if (first.IsNull) return false;
        Take(first);
        if (_settings.Count == 1) return true;
        // Something is there: the rest of a read in one round trip (those that find the list empty answer nil).
        var more = new Task<RedisValue>[_settings.Count - 1];
        for (var i = 0; i < more.Length; i++) more[i] = _db.ListMoveAsync(_key, _processing, ListSide.Right, ListSide.Left);
        foreach (var task in more)
        {
            RedisValue value;
            try
            {
                value = await task.ConfigureAwait(false);
            }
            catch (Exception e) when (RedisSourceConnector.IsConnectionLoss(e))
            {
                // The rest either moved (and stays in the processing list for the next start) or did not.
                break;
            }
            if (!value.IsNull) Take(value);
        }
        return true;
    }

    private void Take(RedisValue value)
    {
        var db = _db;
        var processing = _processing;
        _ready.Enqueue(new SourceMessage((byte[])value!, SourceMessage.Now(), _settings.Key,
            Ack: () => connector.Acknowledge(context, db.ListRemoveAsync(processing, value, 1))));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source}: {Count} elements left in {ProcessingKey} (taken but not admitted before a stop) are delivered first")]
    private static partial void LogLeftover(ILogger logger, string source, int count, string processingKey);
}
