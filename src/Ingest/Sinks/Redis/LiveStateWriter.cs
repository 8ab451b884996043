using System.Diagnostics.Metrics;
using Ingest.Graph;
using Ingest.Hosting;
using Ingest.Sinks.Redis;
using Ingest.Telemetry;
using Ingest.Transforms.Live;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Ingest.Sinks.Redis;

/// <summary>
/// Writes the live state to Redis every <see cref="LiveOptions.FlushInterval"/>: each series changed since the
/// last flush once (HSET of its fields, EXPIRE, and its index entry), pipelined, so that Redis load follows the
/// number of series, not the ingest rate. Ingest never waits on it.
/// </summary>
/// <remarks>
/// Keys (see the README's live state; <c>ingest:</c> is <c>Redis:KeyPrefix</c>): <c>ingest:live:{db}:{seriesKey}</c>,
/// a hash of <c>{field}</c> = value as text and <c>{field}:ts</c> = event time in ns; <c>ingest:live:series</c>, a sorted
/// set of <c>{db}:{seriesKey}</c> scored by the wall-clock time (Unix ms) of the series' last update.
/// When Redis is unreachable or a write fails, nothing is queued: once Redis answers again (or the connection
/// is restored) the full live state is written again, as a restarted Redis may have lost it.
/// </remarks>
public sealed partial class LiveStateWriter : BackgroundService
{
    // Series per pipelined chunk: the chunk's index entries (24 bytes each) stay below the large object heap's
    // 85 000 bytes, whose allocations only a full collection frees.
    private const int ChunkSeries = 2_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly LiveStateTransform? _live;
    private readonly RedisConnection _redis;
    private readonly ILogger<LiveStateWriter> _logger;
    private readonly Counter<long>? _writes;
    private readonly Counter<long>? _errors;
    // What this flush writes. A flush that fails leaves nothing queued (the full state goes out later), so
    // nothing outlives a flush.
    private readonly List<LiveWrite> _taken = new();
    // The field lists of HSET, by number of entries, reused: the client copies them into its command when called.
    private readonly List<HashEntry[]> _entries = new();
    private int _needFull;
    private bool _reportedDown;
    private long _nextPruneMs;

    /// <param name="live">The live state; null without it (Live:Enabled false, or no Redis), when this writes nothing.</param>
    public LiveStateWriter(LiveStateTransform? live, RedisConnection redis, IngestMeter meter, ILogger<LiveStateWriter> logger)
    {
        _live = live;
        _redis = redis;
        _logger = logger;
        if (live is null) return;
        // A connection lost or restored may have lost what Redis held: the next flush writes the full state.
        redis.ConnectionFailed += (_, _) => Interlocked.Exchange(ref _needFull, 1);
        redis.ConnectionRestored += (_, _) => Interlocked.Exchange(ref _needFull, 1);
        var m = meter.Meter;
        m.CreateObservableGauge("ingest.live.series", () => live.SeriesCount, "{series}", "Series whose live state is kept.");
        m.CreateObservableCounter("ingest.live.series.untracked", () => live.Untracked, "{point}",
            "Points of new series not tracked because Live:MaxSeries was reached.");
        _writes = m.CreateCounter<long>("ingest.live.writes", "{series}", "Series written to Redis.");
        _errors = m.CreateCounter<long>("ingest.live.flush.errors", "{flush}", "Live state flushes to Redis that failed.");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_live is null) return;
        await Periodic.RunAsync(() => _live.Options.FlushInterval, FlushAsync, stoppingToken).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>One flush: takes the dirty series, writes what Redis is owed. Never throws for Redis trouble.</summary>
    public async Task FlushAsync()
    {
        if (_live is null) return;
        var now = _live.Clock();
        _taken.Clear();
        while (_live.TakeDirty(_taken, ChunkSeries) == ChunkSeries)
        {
        }
        var pruned = false;
        if (_live.Options.Expiry > TimeSpan.Zero && now >= _nextPruneMs)
        {
            _live.Prune(now);
            pruned = true;
            _nextPruneMs = now + Math.Max(1000, (long)_live.Options.Expiry.TotalMilliseconds / 4);
        }

        ConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await _redis.GetAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Lost(e.Message);
            return;
        }
        if (!multiplexer.IsConnected)
        {
            Lost("not connected");
            return;
        }
        var pending = _taken;
        if (Interlocked.Exchange(ref _needFull, 0) == 1)
        {
            // Redis may have lost everything: write all of it again, taken series included (they are published).
            _taken.Clear();
            _live.AllPublished(now, _taken);
            // Keys written again may be new keys without a TTL.
            foreach (var w in _taken) w.KeyLivesUntilMs = 0;
            LogFullRewrite(pending.Count);
        }
        var db = multiplexer.GetDatabase();
        var expiry = _live.Options.Expiry;
        if (pending.Count == 0)
        {
            // Nothing changed: the index still loses its stale members now and then.
            if (pruned) await TryAsync(WriteAsync(db, pending, 0, 0, expiry, now)).ConfigureAwait(false);
            return;
        }
        try
        {
            for (var start = 0; start < pending.Count; start += ChunkSeries)
            {
                var count = Math.Min(ChunkSeries, pending.Count - start);
                await WriteAsync(db, pending, start, count, expiry, now).WaitAsync(Timeout).ConfigureAwait(false);
                _writes?.Add(count);
                _reportedDown = false;
            }
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Commands of this flush may still be waiting in the client with the values' buffers: leave those alone.
            _live.ReleaseBuffers();
            _errors?.Add(1);
            Lost(e.Message, pending.Count);
        }
        finally
        {
            pending.Clear();
        }
    }

    private async Task TryAsync(Task write)
    {
        try
        {
            await write.WaitAsync(Timeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _errors?.Add(1);
            Lost(e.Message);
        }
    }

    /// <summary>
    /// Writes <paramref name="count"/> series from <paramref name="start"/> of <paramref name="pending"/> in one
    /// batch, with the index update (and, with an expiry, the index pruning) last; the task completes when Redis has
    /// answered those, and so every command of the batch.
    /// </summary>
    private Task WriteAsync(IDatabase db, List<LiveWrite> pending, int start, int count, TimeSpan expiry, long now)
    {
        var batch = db.CreateBatch();
        // The per-series commands go without a reply object each (fire and forget): at 100 000 series that was
        // 200 000 tasks per second, alive until Redis answered and so promoted by the collector. The commands of a
        // batch run in order on one connection, so the index update awaited last answers after all of them; a
        // lost connection fails it, and the full state is written again.
        Task? added = null, removed = null;
        // The client keeps this array in its command and reads it when sending: one per chunk, not reused.
        var index = new SortedSetEntry[count];
        var indexed = 0;
        for (var n = start; n < start + count; n++)
        {
            var s = pending[n];
            TimeSpan? ttl = null;
            if (expiry > TimeSpan.Zero)
            {
                var left = (long)expiry.TotalMilliseconds - Math.Max(0, now - s.UpdatedMs);
                if (left <= 0) continue; // stale already: let it expire
                // The TTL is renewed only when the one set last would end before the series is due to expire,
                // and then with a margin of a tenth of the expiry: a series updated every flush gets one EXPIRE a
                // minute (at 10m) instead of one per flush, a third of the commands. HSET keeps a key's TTL.
                if (s.KeyLivesUntilMs < now + left)
                {
                    var withMargin = left + (long)expiry.TotalMilliseconds / 10;
                    ttl = TimeSpan.FromMilliseconds(withMargin);
                    s.KeyLivesUntilMs = now + withMargin;
                }
            }
            var fields = s.Fields;
            var entries = Entries(fields.Length * 2);
            var i = 0;
            foreach (var field in fields)
            {
                // Values go as the bytes of the series' own buffer, timestamps as numbers the client formats
                // into its output: nothing is allocated for either.
                entries[i++] = new HashEntry(field.Name, field.Value);
                entries[i++] = new HashEntry(field.TsName, field.Timestamp);
            }
            batch.HashSetAsync(s.RedisKey, entries, CommandFlags.FireAndForget);
            if (ttl is { } t) batch.KeyExpireAsync(s.RedisKey, t, CommandFlags.FireAndForget);
            index[indexed++] = new SortedSetEntry(s.Id, s.UpdatedMs);
        }
        if (indexed < count) Array.Resize(ref index, indexed);
        var indexKey = _redis.Settings.LiveIndexKey;
        if (indexed > 0) added = batch.SortedSetAddAsync(indexKey, index);
        if (expiry > TimeSpan.Zero)
            removed = batch.SortedSetRemoveRangeByScoreAsync(indexKey, double.NegativeInfinity, now - expiry.TotalMilliseconds, Exclude.Stop);
        batch.Execute();
        return (added, removed) switch
        {
            ({ } a, { } r) => Task.WhenAll(a, r),
            ({ } a, null) => a,
            (null, { } r) => r,
            _ => Task.CompletedTask,
        };
    }

    /// <summary>A field list of <paramref name="length"/> entries, the same array every time.</summary>
    private HashEntry[] Entries(int length)
    {
        while (_entries.Count <= length) _entries.Add(new HashEntry[_entries.Count]);
        return _entries[length];
    }

    // Nothing is queued while Redis is away: the full state goes out once it is back.
    private void Lost(string error, int? series = null)
    {
        var count = series ?? _taken.Count;
        _taken.Clear();
        Interlocked.Exchange(ref _needFull, 1);
        if (_reportedDown) return;
        _reportedDown = true;
        LogWriteFailed(count, error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the live state of {Count} series to Redis; the full state is written again once Redis answers: {Error}")]
    private partial void LogWriteFailed(int count, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing the full live state ({Count} series) to Redis")]
    private partial void LogFullRewrite(int count);
}
