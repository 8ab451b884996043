using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>
/// Stream mode: each entry's <c>Field</c> is one message, read with XREADGROUP in <c>Group</c> as <c>Consumer</c>
/// and acknowledged (XACK) only by the message's Ack, once admitted. Per stream key, in this order: the entries
/// still pending for this consumer (what a crash or a lost acknowledgement left, read from id 0), then those
/// idle for longer than <c>ClaimIdle</c> at other consumers (XAUTOCLAIM, again every <c>ClaimIdle</c>), then new
/// entries (<c>&gt;</c>). Reads only when pulled, at most <c>Count</c> entries at a time; an empty stream is asked
/// again every <c>PollInterval</c> (the client has no blocking reads).
/// </summary>
internal sealed partial class RedisStreamReader(RedisSourceConnector connector, SourceContext context) : IPulledReader
{
    private enum Phase { Pending, Claim, New }

    private sealed class StreamKey(string name)
    {
        public RedisKey Key { get; } = name;
        public string Name { get; } = name;
        public Phase Phase { get; set; } = Phase.Pending;
        public RedisValue Cursor { get; set; } = "0";
    }

    private readonly RedisSourceSettings _settings = connector.Settings;
    private readonly Queue<SourceMessage> _ready = new();
    private readonly StreamKey[] _keys = connector.Settings.Streams.Select(s => new StreamKey(s)).ToArray();
    private IDatabase _db = null!;
    private long _nextClaim;
    private int _turn;

    public async Task StartAsync()
    {
        _db = (await connector.ConnectAsync(context).ConfigureAwait(false)).GetDatabase();
        await RedisSourceConnector.UntilConnectedAsync(context, async () =>
        {
            await EnsureGroupsAsync().ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
        context.Telemetry.SetState(SourceState.Connected);
    }

    private async Task EnsureGroupsAsync()
    {
        foreach (var key in _keys)
        {
            try
            {
                await _db.StreamCreateConsumerGroupAsync(key.Key, _settings.Group, _settings.StartId, createStream: true).ConfigureAwait(false);
                LogGroupCreated(context.Logger, context.Name, _settings.Group, key.Name, _settings.StartId);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
            {
            }
            key.Phase = Phase.Pending;
            key.Cursor = "0";
        }
        _nextClaim = Environment.TickCount64 + (long)_settings.ClaimIdle.TotalMilliseconds;
    }

    public async Task<SourceMessage?> NextAsync() =>
        await RedisSourceConnector.NextReadyAsync(context, _ready, ReadAsync, _settings.PollInterval, async e =>
        {
            // The server lost the group (restarted without persistence, or the key was deleted): made again.
            if (!e.Message.StartsWith("NOGROUP", StringComparison.Ordinal)) return false;
            await EnsureGroupsAsync().ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

    /// <summary>One read command for the next stream key with something to read; false when none had any.</summary>
    private async Task<bool> ReadAsync()
    {
        if (Environment.TickCount64 >= _nextClaim)
        {
            foreach (var key in _keys)
                if (key.Phase == Phase.New) (key.Phase, key.Cursor) = (Phase.Claim, "0-0");
            _nextClaim = Environment.TickCount64 + (long)_settings.ClaimIdle.TotalMilliseconds;
        }
        for (var tried = 0; tried < _keys.Length; tried++)
        {
            var key = _keys[_turn++ % _keys.Length];
            while (true)
            {
                switch (key.Phase)
                {
                    case Phase.Pending:
                    {
                        var entries = await _db.StreamReadGroupAsync(key.Key, _settings.Group, _settings.Consumer, key.Cursor, _settings.Count).ConfigureAwait(false);
                        if (entries.Length == 0)
                        {
                            (key.Phase, key.Cursor) = (Phase.Claim, "0-0");
                            continue;
                        }
                        key.Cursor = entries[^1].Id;
                        if (await TakeAsync(key, entries).ConfigureAwait(false) > 0) return true;
                        continue;
                    }
                    case Phase.Claim:
                    {
                        var claimed = await _db.StreamAutoClaimAsync(key.Key, _settings.Group, _settings.Consumer,
                            (long)_settings.ClaimIdle.TotalMilliseconds, key.Cursor, _settings.Count).ConfigureAwait(false);
                        var next = claimed.NextStartId;
                        if (next.IsNullOrEmpty || next == "0-0") (key.Phase, key.Cursor) = (Phase.New, ">");
                        else key.Cursor = next;
                        var taken = await TakeAsync(key, claimed.ClaimedEntries).ConfigureAwait(false);
                        if (taken > 0)
                        {
                            LogClaimed(context.Logger, context.Name, taken, key.Name, _settings.ClaimIdle);
                            return true;
                        }
                        continue;
                    }
                    default:
                    {
                        var entries = await _db.StreamReadGroupAsync(key.Key, _settings.Group, _settings.Consumer, StreamPosition.NewMessages, _settings.Count).ConfigureAwait(false);
                        if (entries.Length == 0) break;
                        if (await TakeAsync(key, entries).ConfigureAwait(false) > 0) return true;
                        continue;
                    }
                }
                break;
            }
        }
        return false;
    }

    /// <summary>Queues the entries as messages; an entry without the payload field is counted as bad and acknowledged.</summary>
    private async Task<int> TakeAsync(StreamKey key, StreamEntry[] entries)
    {
        var taken = 0;
        foreach (var entry in entries)
        {
            var id = entry.Id;
            var value = entry.IsNull ? RedisValue.Null : entry[_settings.Field];
            if (value.IsNull)
            {
                // Deleted since it was delivered (no fields) or without the field: nothing to decode, never will be.
                if (!entry.IsNull)
                    context.Telemetry.Message(0, 1, $"entry {id} has no field '{_settings.Field}'", key.Name);
                await _db.StreamAcknowledgeAsync(key.Key, _settings.Group, id).ConfigureAwait(false);
                continue;
            }
            var db = _db;
            var group = _settings.Group;
            var streamKey = key.Key;
            _ready.Enqueue(new SourceMessage((byte[])value!, IdTime(id), key.Name,
                Ack: () => connector.Acknowledge(context, db.StreamAcknowledgeAsync(streamKey, group, id))));
            taken++;
        }
        return taken;
    }

    /// <summary>The entry id's time (when Redis took the entry), unix ns, its sequence added as ns.</summary>
    internal static long IdTime(RedisValue id)
    {
        var text = id.ToString();
        var dash = text.IndexOf('-');
        if (!long.TryParse(dash < 0 ? text : text[..dash], out var ms)) return SourceMessage.Now();
        long seq = 0;
        if (dash >= 0) long.TryParse(text[(dash + 1)..], out seq);
        return ms * 1_000_000 + Math.Min(seq, 999_999);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source}: created consumer group {Group} on stream {Stream} from {StartId}")]
    private static partial void LogGroupCreated(ILogger logger, string source, string group, string stream, string startId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source}: claimed {Count} entries of stream {Stream} idle for over {Idle} at other consumers")]
    private static partial void LogClaimed(ILogger logger, string source, int count, string stream, TimeSpan idle);
}
