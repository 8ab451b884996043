namespace Ingest.Transforms.Downsample;

public sealed partial class DownsampleStage
{
    /// <summary>Counters and footprint of tier <paramref name="tier"/> (index in <see cref="Tiers"/>).</summary>
    public DownsampleTierStats GetStats(int tier)
    {
        var t = _tiers[tier];
        return new DownsampleTierStats(
            t.Settings.Name,
            Volatile.Read(ref t.WindowsEmitted),
            Volatile.Read(ref t.WindowsReemitted),
            Volatile.Read(ref t.PointsAggregated),
            Volatile.Read(ref t.PointsDroppedLate),
            Volatile.Read(ref t.PointsOutOfRange),
            Volatile.Read(ref t.ActiveSeries),
            Volatile.Read(ref t.OpenWindows),
            t.EstimatedBytes,
            Volatile.Read(ref t.Watermark));
    }

    /// <summary>Every tier's stats, in <see cref="Tiers"/> order.</summary>
    public IReadOnlyList<DownsampleTierStats> GetStats()
    {
        var stats = new DownsampleTierStats[_tiers.Length];
        for (int i = 0; i < stats.Length; i++) stats[i] = GetStats(i);
        return stats;
    }
}
