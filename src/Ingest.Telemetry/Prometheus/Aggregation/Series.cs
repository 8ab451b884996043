namespace Ingest.Telemetry.Prometheus.Aggregation;

/// <summary>
/// One label set of one instrument. Integer measurements accumulate in a long (exact, Interlocked.Add)
/// and floating ones in a double (CAS loop); an instrument only ever uses one of the two.
/// </summary>
internal abstract class Series(string encodedLabels)
{
    /// <summary>Escaped <c>a="x",b="y"</c> without braces; also the identity and sort key of the series.</summary>
    public string EncodedLabels { get; } = encodedLabels;

    public byte[] EncodedLabelBytes { get; } = System.Text.Encoding.UTF8.GetBytes(encodedLabels);

    /// <summary>Scrape epoch of the last observation; observable series not reported in the current scrape are skipped.</summary>
    public int Epoch;

    public abstract void Record(long value);

    public abstract void Record(double value);

    protected static void AddDouble(ref double target, double value)
    {
        double current = Volatile.Read(ref target);
        while (true)
        {
            double seen = Interlocked.CompareExchange(ref target, current + value, current);
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current)) return;
            current = seen;
        }
    }
}

/// <summary>Counters and up-down counters: the sum of all deltas.</summary>
internal sealed class SumSeries(string encodedLabels) : Series(encodedLabels)
{
    private long _long;
    private double _double;

    public long LongPart => Volatile.Read(ref _long);

    public double DoublePart => Volatile.Read(ref _double);

    public override void Record(long value) => Interlocked.Add(ref _long, value);

    public override void Record(double value) => AddDouble(ref _double, value);
}

/// <summary>Gauges and every observable instrument: the observed value replaces the previous one.</summary>
internal sealed class LastValueSeries(string encodedLabels) : Series(encodedLabels)
{
    private long _long;
    private double _double;

    public long LongPart => Volatile.Read(ref _long);

    public double DoublePart => Volatile.Read(ref _double);

    public override void Record(long value) => Volatile.Write(ref _long, value);

    public override void Record(double value) => Volatile.Write(ref _double, value);
}

/// <summary>
/// Per-bucket (not cumulative) counts; the writer accumulates them and derives _count from the same
/// snapshot, so le="+Inf" equals _count even while recordings race with a scrape.
/// </summary>
internal sealed class HistogramSeries(string encodedLabels, double[] bounds) : Series(encodedLabels)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private long _sumLong;
    private double _sumDouble;

    public double[] Bounds { get; } = bounds;

    public long SumLongPart => Volatile.Read(ref _sumLong);

    public double SumDoublePart => Volatile.Read(ref _sumDouble);

    public long BucketCount(int index) => Volatile.Read(ref _counts[index]);

    public override void Record(long value)
    {
        Interlocked.Increment(ref _counts[BucketIndex(value)]);
        Interlocked.Add(ref _sumLong, value);
    }

    /// <summary>NaN has no bucket and would turn _sum into NaN for good, so it is ignored.</summary>
    public override void Record(double value)
    {
        if (double.IsNaN(value)) return;
        Interlocked.Increment(ref _counts[BucketIndex(value)]);
        AddDouble(ref _sumDouble, value);
    }

    /// <summary>First bound with value ≤ bound (buckets are upper-inclusive); larger values land in +Inf.</summary>
    private int BucketIndex(double value)
    {
        var b = Bounds;
        if (b.Length <= 16)
        {
            for (int i = 0; i < b.Length; i++)
            {
                if (value <= b[i]) return i;
            }
            return b.Length;
        }
        int lo = 0, hi = b.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (value <= b[mid]) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }
}

/// <summary>Stands in for a label set rejected by the cardinality limit, so its later measurements stay lock-free no-ops.</summary>
internal sealed class DroppedSeries() : Series(string.Empty)
{
    public static readonly DroppedSeries Instance = new();

    public override void Record(long value) { }

    public override void Record(double value) { }
}
