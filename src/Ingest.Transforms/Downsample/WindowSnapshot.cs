using System.Buffers;
using System.Diagnostics;
using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// A snapshot of a <see cref="DownsampleStage"/> being written: the state as it was at
/// <see cref="DownsampleStage.BeginSnapshot"/>, written a slice at a time (<see cref="WriteSome"/>) so that the
/// stage can go on processing batches in between. A window about to change (a point, a merge, a write that sets its
/// flags, its closing) is written first, as it was; the others are written in order by the slices. So the stage
/// pauses for the slices only, and the result is the same as if the stage had been stopped at the start.
/// </summary>
/// <remarks>
/// Like the stage, not thread-safe: every call, and every <see cref="DownsampleStage.Process"/> meanwhile, comes from
/// one thread at a time. The writer must not throw while the stage processes (it is only ever appended to then): give
/// it a stream that buffers, and write that out between slices.
/// </remarks>
public sealed class WindowSnapshot
{
    private readonly DownsampleStage _stage;
    private readonly KeyCatalog _catalog;
    private readonly TierState[] _tiers;
    private int[]? _seriesNumbers;
    private readonly int _seriesLimit;
    private int _nextSeries;
    private int _tier;

    internal WindowSnapshot(DownsampleStage stage, KeyCatalog catalog, TierState[] tiers, StateWriter writer)
    {
        _stage = stage;
        _catalog = catalog;
        _tiers = tiers;
        Writer = writer;
        writer.WriteByte(DownsampleStage.SnapshotFormat);
        FieldNumbers = catalog.WriteSnapshotNames(writer);
        _seriesLimit = catalog.Series.IdLimit;
        _seriesNumbers = ArrayPool<int>.Shared.Rent(Math.Max(1, _seriesLimit));
        _seriesNumbers.AsSpan(0, _seriesLimit).Fill(-1);
        writer.WriteVarint((ulong)tiers.Length);
        foreach (var tier in tiers) Windows += tier.BeginSnapshot(this);
    }

    internal StateWriter Writer { get; }
    internal int[] FieldNumbers { get; }

    /// <summary>Windows in the snapshot.</summary>
    public long Windows { get; }

    /// <summary>Windows written so far.</summary>
    public long Written { get; internal set; }

    /// <summary>Windows written ahead of their turn because the stage was about to change them.</summary>
    public long WrittenEarly { get; internal set; }

    public bool IsFinished { get; private set; }

    /// <summary>
    /// Writes windows in order until all are written, <paramref name="budget"/> has passed (checked every 64
    /// windows) or <paramref name="maxWindows"/> were written; true when all are. Call between batches.
    /// </summary>
    public bool WriteSome(TimeSpan budget, int maxWindows = int.MaxValue)
    {
        ObjectDisposedException.ThrowIf(IsFinished, this);
        long until = budget == TimeSpan.MaxValue ? long.MaxValue : Stopwatch.GetTimestamp() + (long)(budget.TotalSeconds * Stopwatch.Frequency);
        int allowance = maxWindows;
        while (_tier < _tiers.Length)
        {
            if (_tiers[_tier].WriteSnapshotWindows(until, ref allowance)) _tier++;
            else return false;
        }
        return true;
    }

    /// <summary>Ends the snapshot once every window is written (<see cref="WriteSome"/> gave true); the stage no longer tracks it.</summary>
    public void Complete()
    {
        if (!WriteSome(TimeSpan.MaxValue)) throw new InvalidOperationException("windows are still unwritten");
        Writer.WriteVarint(0);
        Detach();
    }

    /// <summary>Gives the snapshot up (what was written is useless); the stage no longer tracks it.</summary>
    public void Abort()
    {
        if (IsFinished) return;
        foreach (var tier in _tiers) tier.EndSnapshot();
        Detach();
    }

    /// <summary>A reference to a window's series: its number once written, else 0 and the series itself.</summary>
    internal void WriteSeries(int series)
    {
        var numbers = _seriesNumbers!;
        // Windows of the snapshot hold their series, so a series id never changes meaning while it is written.
        Debug.Assert(series < _seriesLimit);
        if (numbers[series] >= 0)
        {
            Writer.WriteVarint((ulong)numbers[series] + 1);
            return;
        }
        numbers[series] = _nextSeries++;
        Writer.WriteVarint(0);
        _catalog.WriteSnapshotSeries(Writer, series);
    }

    private void Detach()
    {
        IsFinished = true;
        foreach (var tier in _tiers) tier.Snapshot = null;
        _stage.SnapshotEnded(this);
        ArrayPool<int>.Shared.Return(FieldNumbers);
        ArrayPool<int>.Shared.Return(_seriesNumbers!);
        _seriesNumbers = null;
    }
}
