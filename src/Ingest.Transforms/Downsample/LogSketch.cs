using System.Buffers;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// A mergeable quantile sketch after DDSketch (Masson, Rim, Lee, VLDB 2019): values are counted in buckets
/// whose bounds grow geometrically, bucket <c>i</c> holding magnitudes in <c>(γ^(i-1), γ^i]</c>, and a bucket
/// is reported as <c>2γ^i/(γ+1)</c>. Negative values are counted by magnitude in a second store, zeros apart.
/// </summary>
/// <remarks>
/// <para>Guarantee: for the sorted values <c>v[0..n)</c> of everything added or merged, <see cref="ValueAtRank"/>(k)
/// returns <c>e</c> with <c>|e - v[k]| ≤ 0.01·|v[k]|</c> (exact for zero). So for a percentile p it is within 1 % of
/// InfluxQL's <c>percentile(f, p)</c>, which is the nearest-rank value <c>v[int(n·p/100 + 0.5) - 1]</c>
/// (see <see cref="PercentileRank"/>). The sketch is built at 0.99 % so that rounding in the logarithm at a
/// bucket boundary cannot push a value past 1 %.</para>
/// <para>Bounded: each sign keeps at most <see cref="MaxBucketsPerSign"/> buckets, which cover magnitudes spanning a
/// factor γ^2048 ≈ 4·10^17. Wider data collapses the smallest magnitudes into the lowest kept bucket, as
/// DDSketch does; only ranks among those collapsed values then lose the bound. Merging adds bucket counts, so
/// (short of collapsing) the merge of two sketches is the sketch of the union. Not thread-safe.</para>
/// </remarks>
internal sealed partial class LogSketch
{
    /// <summary>The relative error the guarantee states.</summary>
    public const double RelativeError = 0.01;
    public const int MaxBucketsPerSign = 2048;

    private const double BuildAccuracy = 0.0099;
    private static readonly double Gamma = (1 + BuildAccuracy) / (1 - BuildAccuracy);
    private static readonly double InverseLogGamma = 1 / Math.Log(Gamma);

    private Store _positive = new();
    private Store _negative = new();
    private long _zeros;

    public long Count { get; private set; }

    /// <summary>Approximate bytes held (object, counters and bucket arrays).</summary>
    public int EstimatedBytes => 64 + _positive.Bytes + _negative.Bytes;

    /// <summary>Nearest-rank index as InfluxQL computes it, clamped to the data; -1 for an empty set.</summary>
    public static long PercentileRank(long count, double percentile)
    {
        if (count <= 0) return -1;
        long rank = (long)(count * percentile / 100.0 + 0.5) - 1;
        return Math.Clamp(rank, 0, count - 1);
    }

    public void Add(double value)
    {
        Count++;
        if (value > 0) _positive.Add(IndexOf(value), 1);
        else if (value < 0) _negative.Add(IndexOf(-value), 1);
        else _zeros++;
    }

    public void Merge(LogSketch other)
    {
        Count += other.Count;
        _zeros += other._zeros;
        _positive.MergeFrom(ref other._positive);
        _negative.MergeFrom(ref other._negative);
    }

    /// <summary>An estimate of the value at 0-based rank <paramref name="rank"/> of the sorted values.</summary>
    public double ValueAtRank(long rank)
    {
        if (Count == 0) return double.NaN;
        rank = Math.Clamp(rank, 0, Count - 1);
        long seen = 0;
        // Ascending order: negatives from the largest magnitude down, then zeros, then positives upward.
        for (int i = _negative.Hi; i >= _negative.Lo; i--)
        {
            seen += _negative.CountAt(i);
            if (seen > rank) return -ValueOf(i);
        }
        seen += _zeros;
        if (seen > rank) return 0;
        for (int i = _positive.Lo; i <= _positive.Hi; i++)
        {
            seen += _positive.CountAt(i);
            if (seen > rank) return ValueOf(i);
        }
        return ValueOf(_positive.Hi);
    }

    /// <summary>Empties the sketch for reuse; a large bucket array goes back to the pool rather than stay pinned.</summary>
    public void Clear()
    {
        _positive.Clear();
        _negative.Clear();
        _zeros = 0;
        Count = 0;
    }

    private static int IndexOf(double magnitude) => (int)Math.Ceiling(Math.Log(magnitude) * InverseLogGamma);

    private static double ValueOf(int index) => 2 * Math.Pow(Gamma, index) / (Gamma + 1);

    /// <summary>Dense counts over the bucket indices [Lo, Hi], in a pooled array with slack on both sides.</summary>
    /// <remarks>32-bit counts halve the memory of a sketch; a bucket saturates at 2^31 - 1 values.</remarks>
    private partial struct Store
    {
        private const int InitialLength = 16;
        private const int KeptLength = 1024; // 4 KB: typical ranges stay with their sketch, a freak one goes back
        private int[]? _counts;
        private int _offset;

        public Store() { Lo = 0; Hi = -1; }

        public int Lo { get; private set; }
        public int Hi { get; private set; }
        public readonly int Bytes => _counts is null ? 0 : 16 + _counts.Length * sizeof(int);
        public readonly long CountAt(int index) => _counts![index - _offset];

        public void Add(int index, long count)
        {
            if (Hi < Lo)
            {
                if (_counts is null)
                {
                    _counts = ArrayPool<int>.Shared.Rent(InitialLength);
                    Array.Clear(_counts); // pooled arrays come back dirty
                }
                _offset = index - _counts.Length / 2;
                Lo = Hi = index;
            }
            else if (index < Lo)
            {
                // Too wide: the value joins the lowest bucket that may be kept.
                if (Hi - index + 1 > MaxBucketsPerSign) index = Hi - MaxBucketsPerSign + 1;
                if (index < Lo) Reserve(index, Hi);
            }
            else if (index > Hi)
            {
                if (index - Lo + 1 > MaxBucketsPerSign) CollapseBelow(index - MaxBucketsPerSign + 1);
                Reserve(Lo, index);
            }
            // Saturates instead of wrapping: 2^31 values of one field in one bucket of one window do not occur.
            ref int slot = ref _counts![index - _offset];
            slot = (int)Math.Min(int.MaxValue, slot + count);
        }

        public void MergeFrom(ref Store other)
        {
            for (int i = other.Lo; i <= other.Hi; i++)
            {
                long c = other.CountAt(i);
                if (c != 0) Add(i, c);
            }
        }

        public void Clear()
        {
            if (_counts is not null)
            {
                if (_counts.Length > KeptLength) { ArrayPool<int>.Shared.Return(_counts); _counts = null; }
                else if (Hi >= Lo) Array.Clear(_counts, Lo - _offset, Hi - Lo + 1);
            }
            Lo = 0;
            Hi = -1;
        }

        private void CollapseBelow(int newLo)
        {
            long moved = 0;
            for (int i = Lo; i < newLo && i <= Hi; i++)
            {
                moved += _counts![i - _offset];
                _counts[i - _offset] = 0;
            }
            if (newLo > Hi)
            {
                // Everything collapses into one bucket: re-centre the (already cleared) array on it.
                _offset = newLo - _counts!.Length / 2;
                Lo = Hi = newLo;
                _counts[newLo - _offset] = (int)Math.Min(int.MaxValue, moved);
                return;
            }
            Lo = newLo;
            Reserve(Lo, Hi);
            ref int slot = ref _counts![newLo - _offset];
            slot = (int)Math.Min(int.MaxValue, slot + moved);
        }

        private void Reserve(int lo, int hi)
        {
            var counts = _counts!;
            if (lo - _offset >= 0 && hi - _offset < counts.Length)
            {
                Lo = lo;
                Hi = hi;
                return;
            }
            int needed = hi - lo + 1;
            if (needed <= counts.Length)
            {
                // The range drifted (a reused sketch sees other values): re-centre in place rather than rent.
                int shifted = lo - (counts.Length - needed) / 2;
                if (Hi >= Lo)
                {
                    int used = Hi - Lo + 1, from = Lo - _offset, to = Lo - shifted;
                    counts.AsSpan(from, used).CopyTo(counts.AsSpan(to));
                    counts.AsSpan(0, to).Clear();
                    counts.AsSpan(to + used).Clear();
                }
                _offset = shifted;
                Lo = lo;
                Hi = hi;
                return;
            }
            int length = Math.Max(counts.Length * 2, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)needed));
            var bigger = ArrayPool<int>.Shared.Rent(length);
            Array.Clear(bigger);
            int newOffset = lo - (bigger.Length - needed) / 2;
            if (Hi >= Lo) Array.Copy(counts, Lo - _offset, bigger, Lo - newOffset, Hi - Lo + 1);
            ArrayPool<int>.Shared.Return(counts);
            _counts = bigger;
            _offset = newOffset;
            Lo = lo;
            Hi = hi;
        }
    }
}
