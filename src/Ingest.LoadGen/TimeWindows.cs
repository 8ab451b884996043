namespace Ingest.LoadGen;

/// <summary>
/// The run's time span cut into slices. Landing is checked per slice, and a slice that once held all its
/// points is never counted again, so late polls only scan the data still in flight: that keeps count
/// queries cheap (they share the CPU with the write path) and polls frequent (the landing time's resolution).
/// </summary>
public sealed class TimeWindows
{
    public const int MaxWindows = 32;

    private readonly long _ticksPerWindow;
    private readonly Workload _work;

    public TimeWindows(Workload work)
    {
        _work = work;
        _ticksPerWindow = (work.Ticks + MaxWindows - 1) / MaxWindows;
        Count = (int)((work.Ticks + _ticksPerWindow - 1) / _ticksPerWindow);
    }

    public int Count { get; }

    public long StartNs(int w) => _work.FirstNs + w * _ticksPerWindow * _work.IntervalNs;

    public long EndNs(int w) => StartNs(w + 1); // exclusive

    /// <summary>Points per window carried by the accepted bodies (point k sits at tick k / series).</summary>
    public long[] Expected(bool[] acceptedBodies)
    {
        var exp = new long[Count];
        for (int b = 0; b < acceptedBodies.Length; b++)
        {
            if (!acceptedBodies[b]) continue;
            long first = (long)b * _work.BatchSize;
            long end = first + _work.Batches[b].Points;
            for (long k = first; k < end; k++) exp[k / _work.Series / _ticksPerWindow]++;
        }
        return exp;
    }
}
