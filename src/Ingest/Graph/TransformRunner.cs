using System.Text;
using Ingest.Buffering;
using Ingest.Durability;
using Ingest.LineProtocol;
using Ingest.Transforms;

namespace Ingest.Graph;

/// <summary>
/// One transform's branch of the graph (wired in <see cref="StreamGraph"/>): the stage, the full-policy of the
/// buffer in front of it, and its counters, whose queue gauge reads that buffer.
/// </summary>
/// <param name="policy">What the branch's buffer does when the transform falls a whole buffer behind: the windows
/// must see every point (backpressure, which at the limit holds raw delivery back); the feed and the live state show
/// what is newest, so they drop their oldest batches and count them.</param>
/// <param name="holdsWindows">The branch whose transform keeps state the write-ahead log restores (the downsampling
/// tiers): it reports the records it took to the log's ledger, is what <see cref="TransformRunner.RunExclusive{T}"/>
/// holds, and runs the flushes. At most one branch holds windows.</param>
public sealed class TransformBranch(ITransformStage stage, FullPolicy policy, StageStats stats, bool holdsWindows = false)
{
    private long _taken;

    public ITransformStage Stage { get; } = stage;
    public FullPolicy Policy { get; } = policy;
    public StageStats Stats { get; } = stats;
    public bool HoldsWindows { get; } = holdsWindows;

    /// <summary>Points the branch's transform has taken (processed, or skipped as already processed before a restart).</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <summary>Points in the branch's buffer and in its step: taken from the fan-out and not yet transformed.</summary>
    public long Held => _held?.Invoke() ?? 0;

    internal object Gate { get; } = new();
    internal TransformRunner.Collector Output { get; } = new();
    private Func<long>? _held;

    internal void Materialized(Func<long> held) => _held = held;
    internal void AddTaken(long points) => Interlocked.Add(ref _taken, points);
}

/// <summary>
/// The logic of the graph's branches over the admitted batches (wired in <see cref="StreamGraph"/>): each
/// <see cref="TransformBranch"/> runs its transform over every batch in acceptance order and sends what it derived
/// to the derived-points queue; the raw branch passes each batch on to the raw sink, less the measurements excluded
/// from raw forwarding.
/// </summary>
/// <remarks>
/// Concurrency: the branches run concurrently, each one batch at a time. A transform is not thread-safe: its own
/// branch is its only caller, under the branch's gate; anything else that must touch the windows (flush, snapshots,
/// restore) goes through <see cref="RunExclusive{T}"/>, which holds the windows' branch.
/// </remarks>
public sealed class TransformRunner
{
    private readonly IPointBuffer _buffer;
    private readonly IReadOnlyList<TransformBranch> _branches;
    private readonly TransformBranch? _windows;
    private readonly StageQueue _derived;
    private readonly IReadOnlyList<string> _rawExclude;
    private readonly StageStats _stats;
    private readonly object _gate = new();
    private readonly Dictionary<string, bool> _excluded = new(StringComparer.Ordinal);
    private readonly List<(long After, TaskCompletionSource<long> Done)> _flushes = new();
    private readonly Dictionary<string, bool>.AlternateLookup<ReadOnlySpan<char>> _excludedLookup;

    private readonly Durability.DurableLog? _log;
    private long _lastProcessed;
    // Records the windows have taken above the log's contiguous transforms checkpoint, which batches arriving
    // out of sequence order leave behind it: a snapshot of the windows holds them, so a replay must skip them.
    private readonly HashSet<long> _processed = new();

    /// <param name="stats">The raw branch's counters (stage <c>raw</c>): points routed on, and those excluded.</param>
    public TransformRunner(IPointBuffer buffer, IReadOnlyList<TransformBranch> branches, StageQueue derived,
        IReadOnlyList<string> rawExclude, StageStats stats, Durability.DurableLog? log = null)
    {
        if (branches.Count(b => b.HoldsWindows) > 1) throw new ArgumentException("at most one branch holds windows", nameof(branches));
        _log = log;
        _buffer = buffer;
        _branches = branches;
        _windows = branches.FirstOrDefault(b => b.HoldsWindows);
        _derived = derived;
        _rawExclude = rawExclude;
        _stats = stats;
        _excludedLookup = _excluded.GetAlternateLookup<ReadOnlySpan<char>>();
        _excludeAll = rawExclude.Contains("*");
    }

    private readonly bool _excludeAll;

    /// <summary>The transforms' branches, in the order the fan-out feeds them.</summary>
    public IReadOnlyList<TransformBranch> Branches => _branches;

    /// <summary>
    /// Whether the windows are flushed when the buffer ends (shutdown). Not with a write-ahead log: the open
    /// windows are rebuilt from it at the next start, where flushing would write them half-filled.
    /// </summary>
    public bool FlushAtEnd { get; init; } = true;

    /// <summary>Whether <see cref="ProcessedAfter"/> is wanted (the windows are checkpointed by snapshots).</summary>
    public bool TrackProcessed { get; init; }

    /// <summary>The highest log sequence the windows have processed. Read under <see cref="RunExclusive{T}"/>.</summary>
    public long LastProcessed => _lastProcessed;

    /// <summary>
    /// The records above <paramref name="checkpoint"/> (the transforms' contiguous checkpoint) that the windows have
    /// taken, ascending; those at or below it are forgotten. Call under <see cref="RunExclusive{T}"/>.
    /// </summary>
    public long[] ProcessedAfter(long checkpoint)
    {
        ForgetProcessedThrough(checkpoint);
        var after = _processed.ToArray();
        Array.Sort(after);
        return after;
    }

    /// <summary>Forgets the taken records at or below <paramref name="checkpoint"/>. Call under <see cref="RunExclusive{T}"/>.</summary>
    public void ForgetProcessedThrough(long checkpoint) => _processed.RemoveWhere(s => s <= checkpoint);

    /// <summary>Records a restored snapshot of the windows already holds (taken before the restart above its checkpoint).</summary>
    public void AlreadyProcessed(IEnumerable<long> sequences)
    {
        lock (WindowsGate) _processed.UnionWith(sequences);
    }

    /// <summary>Runs <paramref name="action"/> while the windows' branch is not transforming a batch.</summary>
    public T RunExclusive<T>(Func<T> action)
    {
        lock (WindowsGate) return action();
    }

    private object WindowsGate => _windows?.Gate ?? _gate;

    // Without windows every flush is due at once.
    private long WindowsTaken => _windows?.Taken ?? long.MaxValue;

    /// <summary>
    /// The fan-out's step, before the branches get <paramref name="batch"/>: without a branch that holds windows,
    /// nothing restores the transforms from the log, so its record is done with for them here.
    /// </summary>
    public void FannedOut(PointBatch batch)
    {
        if (_windows is null && _log is not null && batch.Sequence > 0 && _log.Ledger.Needs(LedgerConsumer.Transforms, batch.Sequence))
            _log.Ledger.Finished(LedgerConsumer.Transforms, batch.Sequence);
    }

    /// <summary>
    /// A transform branch's step: runs <paramref name="branch"/>'s transform over <paramref name="batch"/> (only read;
    /// the caller keeps its reference), sends what it derived, then (the windows' branch) any flush that has become
    /// due. One call at a time per branch.
    /// </summary>
    public async ValueTask TransformAsync(TransformBranch branch, PointBatch batch, CancellationToken cancellationToken)
    {
        var sequence = batch.Sequence;
        lock (branch.Gate)
        {
            // A replayed record the transforms had finished before the restart only goes on raw.
            if (_log is null || _log.Ledger.Needs(LedgerConsumer.Transforms, sequence))
            {
                Guard(branch, () => branch.Stage.Process(batch, branch.Output));
                if (branch.HoldsWindows && sequence > 0)
                {
                    if (TrackProcessed) _processed.Add(sequence);
                    _log?.Ledger.Finished(LedgerConsumer.Transforms, sequence);
                    if (sequence > _lastProcessed) _lastProcessed = sequence;
                }
            }
            branch.AddTaken(batch.Count);
        }
        await WriteDerivedAsync(branch.Output, cancellationToken).ConfigureAwait(false);
        if (branch.HoldsWindows) await RunDueFlushesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After every branch ended (the buffer was completed and drained, or the stop gave up): flushes the windows
    /// when <see cref="FlushAtEnd"/>, then completes the derived queue so that its sink finishes.
    /// </summary>
    public async Task EndAsync(bool drained, CancellationToken cancellationToken)
    {
        try
        {
            // Without a log, what the windows hold so far is better written than lost at shutdown.
            if (drained && FlushAtEnd) await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _derived.Complete();
        }
    }

    /// <summary>
    /// Schedules a flush that runs once the windows' branch has taken <paramref name="after"/> points in all (every
    /// point acknowledged before the request), so that none of them misses the windows it closes. The task gives the
    /// points the flush emitted; without windows it runs at once.
    /// </summary>
    public Task<long> FlushAfterAsync(long after, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_flushes) _flushes.Add((after, done));
        // Already there (the branch may be idle): run it now rather than wait for the next batch.
        return WindowsTaken >= after
            ? RunDueFlushesAsync(cancellationToken).ContinueWith(_ => done.Task, TaskScheduler.Default).Unwrap()
            : done.Task;
    }

    private async Task RunDueFlushesAsync(CancellationToken cancellationToken)
    {
        List<TaskCompletionSource<long>>? due = null;
        lock (_flushes)
        {
            var taken = WindowsTaken;
            for (var i = _flushes.Count - 1; i >= 0; i--)
            {
                if (_flushes[i].After > taken) continue;
                (due ??= new()).Add(_flushes[i].Done);
                _flushes.RemoveAt(i);
            }
        }
        if (due is null) return;
        var points = await FlushAsync(cancellationToken).ConfigureAwait(false);
        foreach (var d in due) d.TrySetResult(points);
    }

    /// <summary>
    /// Runs <paramref name="change"/> on the windows' branch between two batches (a reload replacing the tiers) and sends
    /// what it emitted, as a flush's windows are sent. Waits while a snapshot of the windows is being written, for at
    /// most <paramref name="wait"/>: <paramref name="busy"/> says whether one is (read under the same exclusion).
    /// </summary>
    /// <exception cref="TimeoutException">A snapshot was still being written after <paramref name="wait"/>.</exception>
    public async Task<T> ReconfigureWindowsAsync<T>(Func<ITransformOutput, T> change, Func<bool> busy, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var collector = new Collector();
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            bool done = false;
            T result = default!;
            lock (WindowsGate)
            {
                if (!busy())
                {
                    result = change(collector);
                    done = true;
                }
            }
            if (done)
            {
                await WriteDerivedAsync(collector, cancellationToken).ConfigureAwait(false);
                return result;
            }
            if (DateTime.UtcNow >= until) throw new TimeoutException($"a snapshot of the windows was still being written after {wait.TotalSeconds:F0} s");
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes every open window now and sends what that emits.</summary>
    public async Task<long> FlushAsync(CancellationToken cancellationToken = default)
    {
        var collector = new Collector();
        foreach (var branch in _branches)
            lock (branch.Gate)
                Guard(branch, () => branch.Stage.Flush(collector));
        var points = collector.Points;
        await WriteDerivedAsync(collector, cancellationToken).ConfigureAwait(false);
        return points;
    }

    private static void Guard(TransformBranch branch, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A transform's bug must not stop raw delivery: the batch still goes on, and the error is counted.
            branch.Stats.AddError(e.GetType().Name);
        }
    }

    private async Task WriteDerivedAsync(Collector collector, CancellationToken cancellationToken)
    {
        foreach (var derived in collector.Take())
            await _derived.WriteAsync(derived, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The raw branch's step: what of <paramref name="batch"/> (this branch's reference to it) goes on to the raw
    /// sink, less the measurements excluded from raw forwarding, or null when nothing does; what goes no further
    /// leaves the buffer here. One call at a time.
    /// </summary>
    public PointBatch? RouteRaw(PointBatch batch)
    {
        if (_log is not null && !_log.Ledger.Needs(LedgerConsumer.Raw, batch.Sequence))
        {
            // Replayed for the windows only: InfluxDB had these points before the restart.
            _buffer.Release(batch.Count);
            batch.Release();
            return null;
        }
        _stats.AddReceived(batch.Count);
        if (_rawExclude.Count == 0)
        {
            _stats.AddSent(batch.Count);
            return batch;
        }

        // Each point's measurement is decided once; the copy below reuses the decisions. "*" excludes every
        // measurement, so then there is nothing to decide.
        var decisions = _excludeAll ? null : System.Buffers.ArrayPool<bool>.Shared.Rent(batch.Count);
        var excluded = decisions is null ? batch.Count : 0;
        if (decisions is not null)
            for (var i = 0; i < batch.Count; i++)
                if (decisions[i] = IsExcluded(batch.SeriesKey(i))) excluded++;
        if (excluded == 0)
        {
            System.Buffers.ArrayPool<bool>.Shared.Return(decisions!);
            _stats.AddSent(batch.Count);
            return batch;
        }

        PointBatch? kept = null;
        if (excluded < batch.Count)
        {
            kept = PointBatch.Rent();
            kept.Sequence = batch.Sequence;
            kept.Database = batch.Database;
            kept.RetentionPolicy = batch.RetentionPolicy;
            for (var i = 0; i < batch.Count; i++) if (!decisions![i]) kept.CopyPointFrom(batch, i);
        }
        if (decisions is not null) System.Buffers.ArrayPool<bool>.Shared.Return(decisions);
        // The excluded points are done with once the transforms have seen them.
        _buffer.Release(excluded);
        _stats.AddDropped("raw_excluded", excluded);
        if (kept is null) _log?.Ledger.Finished(LedgerConsumer.Raw, batch);
        batch.Release();
        if (kept is not null) _stats.AddSent(kept.Count);
        return kept;
    }

    private bool IsExcluded(ReadOnlySpan<byte> seriesKey)
    {
        var raw = seriesKey[..Escaping.MeasurementLength(seriesKey)];
        if (raw.Length > 512) return Decide(Encoding.UTF8.GetString(raw));
        Span<char> chars = stackalloc char[Encoding.UTF8.GetMaxCharCount(raw.Length)];
        var n = Unescape(chars[..Encoding.UTF8.GetChars(raw, chars)]);
        if (_excludedLookup.TryGetValue(chars[..n], out var known)) return known;
        return Decide(new string(chars[..n]));
    }

    private bool Decide(string measurement)
    {
        var excluded = false;
        foreach (var pattern in _rawExclude) if (Glob.IsMatch(pattern, measurement)) { excluded = true; break; }
        if (_excluded.Count < 100_000) _excluded[measurement] = excluded;
        return excluded;
    }

    private static int Unescape(Span<char> s)
    {
        var w = 0;
        for (var r = 0; r < s.Length; r++)
        {
            if (s[r] == '\\' && r + 1 < s.Length && s[r + 1] is ',' or ' ') r++;
            s[w++] = s[r];
        }
        return w;
    }

    internal sealed class Collector : ITransformOutput
    {
        private readonly List<PointBatch> _batches = new();

        public long Points => _batches.Sum(b => (long)b.Count);

        public void Derived(PointBatch batch) => _batches.Add(batch);

        public List<PointBatch> Take()
        {
            var taken = _batches.ToList();
            _batches.Clear();
            return taken;
        }
    }
}
