using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging;

namespace Ingest.Sinks.Feed;

/// <summary>
/// Handing points to the feed, and matching them. The pipeline's calls (transform runner, threshold check under
/// its lock, i.e. in the path that acknowledges writes) only queue a reference to the batch, or a copy of the
/// events: O(1), no matching, no waiting. One dispatcher task takes them in order and matches them against the
/// subscriptions. The queue holds at most <see cref="FeedOptions.PublishQueue"/> points; when the dispatcher is
/// behind, the oldest are dropped for the feed and counted (<c>ingest_stage_dropped_total{stage="feed"}</c>):
/// the feed shows the latest data, and the pipeline never waits for it.
/// </summary>
public sealed partial class FeedHub
{
    private readonly Queue<Work> _work = new();
    private long _workPoints;
    private TaskCompletionSource? _workArrived;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _dispatching;

    /// <summary>A batch of points or windows (one reference held), or alert events (a copy).</summary>
    private readonly record struct Work(string Channel, PointBatch? Batch, AlertEvent[]? Events, int Points);

    /// <summary>Points handed to the feed and not yet dispatched.</summary>
    public long QueuedPoints => Interlocked.Read(ref _workPoints);

    /// <summary>Raw points, from the transform runner. Costs nothing without a points subscription.</summary>
    public void PublishPoints(PointBatch batch)
    {
        if (Volatile.Read(ref _pointSubscriptions) == 0 || batch.Count == 0) return;
        Offer(new Work("points", batch.Retain(), null, batch.Count));
    }

    /// <summary>Windows a downsampling tier wrote (measurements <c>m_tier</c>), from the transform runner.</summary>
    public void PublishAggregates(PointBatch batch)
    {
        if (Volatile.Read(ref _aggregateSubscriptions) == 0 || batch.Count == 0) return;
        Offer(new Work("aggregates", batch.Retain(), null, batch.Count));
    }

    /// <summary>Alert transitions, from the threshold check (under its lock, in the write path: must not block).</summary>
    public void PublishAlerts(IReadOnlyList<AlertEvent> events)
    {
        if (Volatile.Read(ref _alertSubscriptions) == 0 || events.Count == 0) return;
        Offer(new Work("alerts", null, [.. events], events.Count));
    }

    private void Offer(Work work)
    {
        List<Work>? evicted = null;
        TaskCompletionSource? wake;
        lock (_work)
        {
            // An empty queue takes any batch, so that one larger than the capacity is not dropped for ever.
            while (_workPoints > 0 && _workPoints + work.Points > Options.PublishQueue && _work.TryDequeue(out var old))
            {
                _workPoints -= old.Points;
                (evicted ??= []).Add(old);
            }
            _work.Enqueue(work);
            _workPoints += work.Points;
            wake = _workArrived;
            _workArrived = null;
        }
        Stats.AddReceived(work.Points);
        wake?.TrySetResult();
        if (evicted is null) return;
        foreach (var old in evicted)
        {
            Stats.AddDropped("queue_full", old.Points);
            old.Batch?.Release();
        }
    }

    private async Task DispatchLoopAsync()
    {
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                Work work;
                Task? idle = null;
                lock (_work)
                {
                    if (_work.TryDequeue(out work)) _workPoints -= work.Points;
                    else idle = (_workArrived ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
                if (idle is not null)
                {
                    await idle.WaitAsync(ct).ConfigureAwait(false);
                    continue;
                }
                try
                {
                    if (work.Events is { } events) DispatchAlerts(events);
                    else Dispatch(work.Batch!, work.Channel);
                    Stats.AddSent(work.Points);
                }
                catch (Exception e)
                {
                    // A bug here must not end the feed for everyone: the work is dropped, counted and logged.
                    Stats.AddError(e.GetType().Name);
                    LogDispatchFailed(e, work.Channel);
                }
                finally
                {
                    work.Batch?.Release();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>The distinct measurements of a batch, in order of first appearance (runs of one measurement are cheap).</summary>
    private static List<string> Measurements(PointBatch batch)
    {
        var result = new List<string>(4);
        ReadOnlySpan<byte> last = default;
        for (var i = 0; i < batch.Count; i++)
        {
            var key = batch.SeriesKey(i);
            var raw = key[..Escaping.MeasurementLength(key)];
            if (raw.SequenceEqual(last)) continue;
            last = raw;
            var name = Escaping.Unescape(raw, EscapeKind.Measurement);
            if (!result.Contains(name)) result.Add(name);
        }
        return result;
    }

    // Per subscription and point one lookup of the series' earlier verdict; only points some subscriber takes are
    // decoded, each once.
    private void Dispatch(PointBatch batch, string channel)
    {
        var refs = batch.Points;
        var count = refs.Length;
        DecodedPoint?[]? decoded = null;
        DecodedPoint Decoded(int i) => (decoded ??= new DecodedPoint?[count])[i] ??= PointDecoder.Decode(batch, i);
        List<string>? measurements = null;
        string? database = null;
        foreach (var group in _groups)
        {
            if (group.Channel != channel) continue;
            if (group.Measurement is { } filter)
            {
                measurements ??= Measurements(batch);
                var any = false;
                foreach (var m in measurements)
                {
                    var name = m;
                    if (group.Tier is { } t)
                    {
                        if (!name.EndsWith("_" + t, StringComparison.Ordinal)) continue;
                        name = name[..^(t.Length + 1)];
                    }
                    if (Transforms.Glob.IsMatch(filter, name)) { any = true; break; }
                }
                if (!any) continue;
            }
            foreach (var (client, sub) in group.Members)
            {
                if (client.Token.Databases is not null && !client.Token.MayUse(database ??= DatabaseOf(batch.Database))) continue;
                var cache = sub.SeriesMatches;
                if (cache.Count > 100_000) cache.Clear();
                List<DecodedPoint>? matched = null;
                for (var i = 0; i < refs.Length; i++)
                {
                    if (!cache.TryGetValue(refs[i].SeriesHash, out var takes))
                    {
                        var candidate = Decoded(i);
                        string measurement = candidate.Measurement;
                        takes = true;
                        if (sub.Tier is { } tier)
                        {
                            takes = measurement.EndsWith("_" + tier, StringComparison.Ordinal);
                            if (takes) measurement = measurement[..^(tier.Length + 1)];
                        }
                        takes = takes && sub.MatchesSeries(measurement, candidate.Tags);
                        cache[refs[i].SeriesHash] = takes;
                    }
                    if (!takes) continue;
                    var p = Decoded(i);
                    var fields = sub.Fields is null ? p.Fields : p.Fields.Where(f => sub.MatchesField(f.Key)).ToList();
                    if (fields.Count == 0) continue;
                    (matched ??= []).Add(fields == p.Fields ? p : p with { Fields = fields });
                }
                if (matched is not null) client.EnqueuePoints(sub, matched);
            }
        }
    }

    private void DispatchAlerts(AlertEvent[] events)
    {
        foreach (var group in _groups)
        {
            if (group.Channel != "alerts") continue;
            foreach (var (client, sub) in group.Members)
            {
                var matched = events.Where(e => client.MayRead(e.Database) && sub.MatchesSeries(e.Measurement, e.Tags) && sub.MatchesField(e.Field)).ToList();
                if (matched.Count > 0) client.EnqueueAlerts(sub, matched);
            }
        }
    }

    /// <summary>Stops the dispatcher and lets go of what it had not dispatched.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _dispatching.ConfigureAwait(false);
        lock (_work)
        {
            while (_work.TryDequeue(out var left)) left.Batch?.Release();
            _workPoints = 0;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Feed dispatcher: a {Channel} batch could not be matched and was dropped")]
    private partial void LogDispatchFailed(Exception exception, string channel);
}
