using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// The downsampling stage: aggregates numeric fields into event-time tumbling windows, per tier, and writes one
/// line per series and window (<c>m_1m,tags f_mean=…,f_count=…i,… windowStart</c>).
/// </summary>
/// <remarks>
/// <para>Contract: <see cref="Process"/> and <see cref="Flush"/> are never called concurrently — one consumer owns
/// the stage, so no locking is done. <see cref="GetStats()"/> may be called from any thread (metrics) and
/// returns values that may lag by one call. Input batches are only read; the caller still forwards them.</para>
/// <para>Windows: <c>[start, start + interval)</c> with <c>start = ts - mod(ts, interval)</c> (floored modulo, so
/// aligned to the epoch for negative timestamps too). Each tier's watermark is the largest timestamp among the
/// points whose measurement it takes. A window is written when the watermark reaches its end, kept until the
/// watermark reaches end + allowed lateness, and written again (at most once per call) if points arrived for it
/// in between, with the same series and timestamp so that InfluxDB overwrites it. A point whose window is past
/// end + lateness is counted in <see cref="DownsampleTierStats.PointsDroppedLate"/> and not aggregated.</para>
/// <para>Fields: floats, integers and unsigned integers are aggregated as doubles (integers beyond 2^53 lose
/// precision); booleans and strings are skipped. First and last go by timestamp; on equal timestamps the earlier
/// arrival stays first and the later arrival becomes last.</para>
/// <para>A tier with a <see cref="DownsampleTier.Source"/> merges the source's windows once final (sum, count,
/// min, max, first/last by time, sketch union), so it equals aggregating the raw points at its own interval;
/// it writes a window once the watermark passes its end plus the source's lateness, and never rewrites it.</para>
/// <para>Per point the work is one measurement lookup, one series lookup and, per numeric field, one key comparison
/// and one state update; once the window exists nothing is allocated.</para>
/// </remarks>
public sealed partial class DownsampleStage
{
    private readonly TierState[] _tiers;
    private readonly ulong _rawTiers;
    private readonly KeyCatalog _catalog;
    private readonly OutputBatches _output = new();
    private readonly long[] _starts;
    private readonly int[] _slots;
    private readonly byte[] _lastMeasurement = new byte[512];
    private int _lastMeasurementLength = -1;
    private readonly int[] _fieldsByPosition = Enumerable.Repeat(-1, 64).ToArray();
    private ulong _lastMeasurementMask;

    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public DownsampleStage(DownsampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        var settings = options.Tiers;
        _catalog = new KeyCatalog(
            settings.Select(t => t.Measurements).ToArray(),
            settings.Select(t => t.Fields).ToArray());
        _tiers = new TierState[settings.Count];
        for (int i = 0; i < settings.Count; i++)
        {
            var source = string.IsNullOrEmpty(settings[i].Source) ? null : _tiers.First(t => t?.Settings.Name == settings[i].Source);
            _tiers[i] = new TierState(i, settings[i], _catalog, source);
            source?.Derived.Add(_tiers[i]);
            if (source is null) _rawTiers |= 1UL << i;
        }
        // Sources come first, so walking backwards sees every consumer of a tier before the tier itself.
        for (int i = _tiers.Length - 1; i >= 0; i--)
        {
            var tier = _tiers[i];
            tier.KeepSketch = (tier.Aggregates & Aggregates.Percentiles) != 0 || tier.Derived.Any(d => d.KeepSketch);
        }
        _starts = new long[_tiers.Length];
        _slots = new int[_tiers.Length];
        Tiers = settings;
    }

    public IReadOnlyList<DownsampleTier> Tiers { get; }

    /// <summary>Series currently interned (those with an open window in some tier).</summary>
    internal int InternedSeries => _catalog.Series.Count;

    /// <summary>Memory of the interned series, field and measurement names shared by the tiers.</summary>
    public long CatalogBytes => _catalog.EstimatedBytes;

    /// <summary>
    /// Aggregates <paramref name="input"/>, then writes the windows that became due and hands each output batch
    /// (one per tier and database, rented from <see cref="PointBatch.Rent"/>) to <paramref name="emit"/>, which
    /// owns it from then on. <paramref name="emit"/> is not called when nothing is due.
    /// </summary>
    public void Process(PointBatch input, Action<PointBatch> emit)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(emit);
        foreach (var tier in _tiers) tier.BeginBatch(input.Sequence);
        if (_rawTiers != 0 && input.Count > 0)
        {
            int database = _catalog.Database(input.Database);
            var points = input.Points;
            for (int i = 0; i < points.Length; i++) Aggregate(input, i, points[i], database);
        }
        AdvanceAll(flush: false);
        _output.HandOver(emit);
    }

    /// <summary>
    /// Writes and closes every open window now (shutdown, <c>POST /api/pipeline/flush</c>). Points that arrive
    /// later for a window closed here count as late rather than overwrite its line with a partial one.
    /// </summary>
    public void Flush(Action<PointBatch> emit)
    {
        ArgumentNullException.ThrowIfNull(emit);
        AdvanceAll(flush: true);
        _output.HandOver(emit);
    }

    /// <summary>
    /// The lowest <see cref="PointBatch.Sequence"/> whose points some window still held (open, or within its
    /// lateness) contains; <see cref="long.MaxValue"/> when no window is held. Replaying every batch from this one
    /// on, into a stage whose clocks were set with <see cref="RestoreClocks"/> to the values
    /// <see cref="GetClocks"/> gave at the same moment, rebuilds every held window whole, while the points of
    /// windows already closed are refused as late instead of reopening them half-filled.
    /// </summary>
    public long OldestRetainedSequence
    {
        get
        {
            long oldest = long.MaxValue;
            foreach (var tier in _tiers) oldest = Math.Min(oldest, tier.OldestSequence);
            return oldest;
        }
    }

    /// <summary>Each tier's watermark and flush horizon (ns), in tier order.</summary>
    public TierClock[] GetClocks() => _tiers.Select(t => new TierClock(t.Settings.Name, t.Watermark, t.ClosedBefore)).ToArray();

    /// <summary>
    /// Prepares a replay: <paramref name="clocks"/> are what <see cref="GetClocks"/> gave right after batch
    /// <paramref name="checkpointSequence"/> (matched by tier name; unknown names ignored). Windows final at that
    /// moment are rebuilt but not written again; each tier's watermark catches up with the saved one once the
    /// replay passes that batch. Call before the first batch.
    /// </summary>
    public void RestoreClocks(IEnumerable<TierClock> clocks, long checkpointSequence)
    {
        ArgumentNullException.ThrowIfNull(clocks);
        foreach (var clock in clocks)
        {
            var tier = _tiers.FirstOrDefault(t => t.Settings.Name == clock.Tier);
            tier?.RestoreClock(clock.Watermark, clock.ClosedBefore, checkpointSequence);
        }
    }

    private void AdvanceAll(bool flush)
    {
        // In configuration order, sources before the tiers they feed, so a closing window reaches them first.
        foreach (var tier in _tiers)
        {
            if (tier.Source is { } source) tier.Watermark = source.Watermark;
            tier.Advance(_output, flush);
        }
    }
}

/// <summary>A tier's event-time clock: its watermark and the end of its last flushed window (ns).</summary>
public readonly record struct TierClock(string Tier, long Watermark, long ClosedBefore);
