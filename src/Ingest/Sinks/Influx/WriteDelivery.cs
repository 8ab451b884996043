using System.Diagnostics;
using Ingest.Configuration;
using Ingest.Sinks.DeadLetter;
using Polly;
using Polly.Retry;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Takes one write of an InfluxDB sink to a final outcome: every point stored, or set aside in the dead letter
/// (<see cref="DeadLetterStore"/>) because InfluxDB will not store it. Nothing is retried for ever unseen and
/// nothing is dropped unless the dead letter cannot take it (counted).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Failures saying InfluxDB is unavailable (<see cref="WriteResult.IsOutage"/>) are retried with backoff for
/// as long as they last: an outage must cost no point.</item>
/// <item>Any other failure is retried up to <c>DeadLetter:AfterAttempts</c> times or <c>DeadLetter:AfterAge</c>;
/// then the write is bisected to find the points that fail, as a 413 is split: the halves are tried once
/// each, a half that is stored is done, a failing half is split again. When both halves of a split fail the
/// same way the failure belongs to both wholly (a shard that cannot be opened refuses every point of its time
/// range), and both are set aside without spending more requests on them.</item>
/// <item>A partial write (InfluxDB stored some points and names how many it dropped) is bisected the same
/// way to find the dropped points, within <see cref="SplitBudget"/> splits per write; what is left unsplit
/// when the budget runs out is set aside whole (its stored points would be stored again by a replay, which
/// InfluxDB takes as the same points).</item>
/// <item>Whole refusals (400, unknown retention policy, missing database, a single point too large) are set
/// aside at once.</item>
/// </list>
/// Attempts share the sink's connection slots; an attempt for a failing target also takes its lane's probe
/// gate and one of the slots failing targets may hold (all but one), so failing targets never hold every
/// connection, and their backoff waits hold none.
/// </remarks>
public sealed class WriteDelivery
{
    /// <summary>Most splits spent finding the points of one write that InfluxDB refuses.</summary>
    public const int SplitBudget = 64;

    private static readonly ResiliencePropertyKey<Attempts> AttemptsKey = new("ingest.attempts");

    private readonly InfluxClient _client;
    private readonly InfluxSinkTelemetry _telemetry;
    private readonly DeadLetterStore? _deadLetters;
    private readonly DeadLetterOptions _deadLetterOptions;
    private readonly TargetLanes _lanes;
    private readonly string _sink;
    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _failingSlots;
    private readonly ResiliencePipeline<WriteResult> _retry;
    private readonly TimeProvider _time;

    public WriteDelivery(InfluxClient client, InfluxSinkTelemetry telemetry, DeadLetterStore? deadLetters, DeadLetterOptions deadLetterOptions,
        TargetLanes lanes, string sink, TimeProvider? time = null)
    {
        _client = client;
        _telemetry = telemetry;
        _deadLetters = deadLetters;
        _deadLetterOptions = deadLetterOptions;
        _lanes = lanes;
        _sink = sink;
        _time = time ?? TimeProvider.System;
        var o = client.Options;
        _slots = new SemaphoreSlim(o.MaxConcurrentRequests);
        _failingSlots = new SemaphoreSlim(Math.Max(1, o.MaxConcurrentRequests - 1));
        _retry = new ResiliencePipelineBuilder<WriteResult> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<WriteResult>
            {
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome.Result, args.Context)),
                // An outage is retried for as long as it lasts; ShouldRetry bounds everything else.
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = o.RetryInitialDelay,
                MaxDelay = o.RetryMaxDelay,
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result.RetryAfter is { } after ? (TimeSpan?)TimeSpan.FromTicks(Math.Min(after.Ticks, o.RetryMaxDelay.Ticks)) : null),
                OnRetry = args =>
                {
                    _telemetry.Retrying(args.Outcome.Result, args.AttemptNumber, args.RetryDelay);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>Delivers <paramref name="write"/> to a final outcome and counts it; returns when every point of it is stored or set aside.</summary>
    public async Task DeliverAsync(TargetLane lane, InfluxWrite write, CancellationToken abort)
    {
        var tally = new Tally();
        var result = await SendAsync(lane, write, single: false, abort).ConfigureAwait(false);
        await ResolveAsync(lane, write, result, tally, abort).ConfigureAwait(false);
        _telemetry.Finished(write.Points, tally.SetAside, tally.Dropped);
    }

    private async Task ResolveAsync(TargetLane lane, InfluxWrite write, WriteResult result, Tally tally, CancellationToken abort)
    {
        switch (result.Status)
        {
            case WriteStatus.Delivered:
                return;
            case WriteStatus.TooLarge when write.Split() is var (first, second):
                await ResolveAsync(lane, first, await SendAsync(lane, first, single: false, abort).ConfigureAwait(false), tally, abort).ConfigureAwait(false);
                await ResolveAsync(lane, second, await SendAsync(lane, second, single: false, abort).ConfigureAwait(false), tally, abort).ConfigureAwait(false);
                return;
            case WriteStatus.PartiallyRejected when _deadLetters is not { Enabled: true }:
                // Nowhere to keep them: InfluxDB's own count of what it dropped is all that is needed.
                tally.Dropped += _telemetry.Dropped(Math.Clamp(result.Dropped ?? write.Points, 0, write.Points), "rejected", result);
                return;
            case WriteStatus.PartiallyRejected or WriteStatus.Retryable when write.Points > 1 && tally.TrySplit():
            {
                var (first, second) = write.Split()!.Value;
                var a = await SendAsync(lane, first, single: true, abort).ConfigureAwait(false);
                var b = await SendAsync(lane, second, single: true, abort).ConfigureAwait(false);
                if (result.Status == WriteStatus.Retryable && a.Status == WriteStatus.Retryable && b.Status == WriteStatus.Retryable)
                {
                    SetAside(first, a, tally);
                    SetAside(second, b, tally);
                    return;
                }
                await ResolveAsync(lane, first, a, tally, abort).ConfigureAwait(false);
                await ResolveAsync(lane, second, b, tally, abort).ConfigureAwait(false);
                return;
            }
            default:
                SetAside(write, result, tally);
                return;
        }
    }

    /// <summary>
    /// Attempts <paramref name="write"/> until it is stored or fails for good: outages are retried without end,
    /// other failures up to the dead-letter limits (once when <paramref name="single"/>, during a bisection). A
    /// missing database is created once (when configured) and the write sent again.
    /// </summary>
    private async Task<WriteResult> SendAsync(TargetLane lane, InfluxWrite write, bool single, CancellationToken abort)
    {
        var createdDatabase = false;
        while (true)
        {
            var context = ResilienceContextPool.Shared.Get(abort);
            context.Properties.Set(AttemptsKey, new Attempts(single ? 1 : _deadLetterOptions.AfterAttempts));
            WriteResult result;
            try
            {
                result = await _retry.ExecuteAsync(static (ctx, s) => s.This.AttemptAsync(s.Lane, s.Write, ctx), context,
                    (This: this, Lane: lane, Write: write)).ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
            if (result.Status == WriteStatus.DatabaseNotFound && _client.Options.CreateDatabase && !createdDatabase)
            {
                await _retry.ExecuteAsync(ct => new ValueTask<WriteResult>(_client.CreateDatabaseAsync(write.Target.Database, ct)), abort).ConfigureAwait(false);
                _telemetry.DatabaseCreated(write.Target.Database);
                createdDatabase = true;
                continue;
            }
            return result;
        }
    }

    private async ValueTask<WriteResult> AttemptAsync(TargetLane lane, InfluxWrite write, ResilienceContext context)
    {
        var ct = context.CancellationToken;
        var failing = lane.Failing;
        if (failing)
        {
            await lane.Probe.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _failingSlots.WaitAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                lane.Probe.Release();
                throw;
            }
        }
        try
        {
            await _slots.WaitAsync(ct).ConfigureAwait(false);
            WriteResult result;
            try
            {
                var started = Stopwatch.GetTimestamp();
                result = await _client.WriteAsync(write, ct).ConfigureAwait(false);
                _telemetry.Attempt(Stopwatch.GetElapsedTime(started));
            }
            finally
            {
                _slots.Release();
            }
            if (result.Status == WriteStatus.Delivered) _lanes.Delivered(lane);
            else if (result.Status == WriteStatus.Retryable)
            {
                _lanes.Failed(lane, result.Error ?? result.ErrorType);
                if (!result.IsOutage) context.Properties.GetValue(AttemptsKey, null!).Failed(_time);
            }
            return result;
        }
        finally
        {
            if (failing)
            {
                _failingSlots.Release();
                lane.Probe.Release();
            }
        }
    }

    private bool ShouldRetry(WriteResult result, ResilienceContext context)
    {
        if (result.Status != WriteStatus.Retryable) return false;
        if (result.IsOutage) return true;
        var attempts = context.Properties.GetValue(AttemptsKey, null!);
        return attempts.Count < attempts.Limit && _time.GetElapsedTime(attempts.FirstFailure) < _deadLetterOptions.AfterAge;
    }

    private void SetAside(InfluxWrite write, WriteResult result, Tally tally)
    {
        var points = write.Points;
        var reason = result.SetAsideReason;
        var chunks = write.Segments.Select(s => s.Bytes).ToList();
        var refused = _deadLetters is null ? "dead_letter_off"
            : _deadLetters.TryAppend(new DeadLetterHeader(_time.GetUtcNow(), _sink, write.Target.Database, write.Target.RetentionPolicy,
                reason, result.StatusCode, result.Error ?? result.ErrorType, points), chunks);
        var sample = DeadLetterFile.Sample(chunks.Count > 0 ? chunks[0].Span : default);
        if (refused is null)
        {
            tally.SetAside += points;
            _telemetry.DeadLettered(points, reason, result, write.Target, sample);
        }
        else
        {
            // The dead letter is off, full or failing: counted under the original reason when it is off (as
            // before it existed), else under the reason it could not keep them.
            tally.Dropped += _telemetry.Dropped(points, refused == "dead_letter_off" ? reason : refused, result);
        }
    }

    /// <summary>Failed attempts of one send that did not say InfluxDB is unavailable.</summary>
    private sealed class Attempts(int limit)
    {
        public int Limit { get; } = limit;
        public int Count { get; private set; }
        public long FirstFailure { get; private set; }

        public void Failed(TimeProvider time)
        {
            if (Count++ == 0) FirstFailure = time.GetTimestamp();
        }
    }

    /// <summary>What became of one write's points that were not stored.</summary>
    private sealed class Tally
    {
        private int _splits;
        public int SetAside;
        public int Dropped;

        public bool TrySplit() => ++_splits <= SplitBudget;
    }
}
