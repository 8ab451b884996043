using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Ingest.Telemetry.Prometheus.Naming;

namespace Ingest.Telemetry.Prometheus.Aggregation;

/// <summary>
/// Aggregation state of one instrument. Recording for a known tag combination is a reference comparison
/// against a recently used key (or, failing that, a lock-free dictionary lookup over the callback's tag span)
/// plus an Interlocked update; the lock is only taken to add a series (InstrumentState.NewSeries.cs).
/// </summary>
internal sealed partial class InstrumentState
{
    private readonly ConcurrentDictionary<TagKey, Series> _byTags = new(TagKeyComparer.Instance);
    private readonly ConcurrentDictionary<TagKey, Series>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Series> _byLabels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _droppedLabels = new(StringComparer.Ordinal);
    private readonly ExporterCounters _counters;
    private readonly int _maxSeries;
    private readonly int _droppedMemoLimit;
    private readonly int _tagKeyLimit;
    private Series[] _ordered = [];

    /// <summary>
    /// Recently used keys, indexed by the identity of the tag values. Callers mostly pass the same string
    /// instances again (constants, cached values), and comparing references is far cheaper than hashing strings.
    /// </summary>
    private readonly TagKey?[] _recent = new TagKey?[RecentSlots];

    private const int RecentSlots = 8;

    /// <summary>Rejected label sets remembered so each is counted once, even under a small series limit.</summary>
    private const int MinDroppedMemo = 1024;

    public InstrumentState(Instrument instrument, InstrumentKind kind, long sequence, int maxSeries,
        IReadOnlyList<double> defaultBoundsSeconds, ExporterCounters counters)
    {
        Instrument = instrument;
        Kind = kind;
        Sequence = sequence;
        Name = MetricNaming.Create(instrument.Name, instrument.Unit, kind.Type, kind.IsOtelGauge);
        _maxSeries = maxSeries;
        _droppedMemoLimit = Math.Max(maxSeries, MinDroppedMemo);
        // Each caller ordering of the same tags is its own key; bound them so odd callers cannot grow memory.
        _tagKeyLimit = 4 * maxSeries + _droppedMemoLimit;
        _counters = counters;
        _lookup = _byTags.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        if (kind.Aggregation == AggregationKind.Histogram)
            (RawBounds, ExportedBounds) = HistogramBounds.For(instrument, Name.Scale, defaultBoundsSeconds);
    }

    public Instrument Instrument { get; }

    public InstrumentKind Kind { get; }

    public MetricName Name { get; }

    /// <summary>Registration order; the last tie-breaker when two instruments want the same family name.</summary>
    public long Sequence { get; }

    /// <summary>Bucket upper bounds in the instrument's unit, compared against raw measurements.</summary>
    public double[] RawBounds { get; } = [];

    /// <summary>The same bounds in the Prometheus base unit, as written in <c>le</c>.</summary>
    public double[] ExportedBounds { get; } = [];

    /// <summary>Series sorted by label text; replaced (never mutated) when a series is added.</summary>
    public Series[] Snapshot() => Volatile.Read(ref _ordered);

    public void Record<T>(T value, ReadOnlySpan<KeyValuePair<string, object?>> tags) where T : struct
    {
        var series = Find(tags);
        if (Kind.IsObservable) series.Epoch = Volatile.Read(ref _counters.Epoch);

        // typeof(T) checks are folded away per instantiation, so each T compiles to a single branch.
        if (typeof(T) == typeof(long)) series.Record(Unsafe.As<T, long>(ref value));
        else if (typeof(T) == typeof(int)) series.Record((long)Unsafe.As<T, int>(ref value));
        else if (typeof(T) == typeof(short)) series.Record((long)Unsafe.As<T, short>(ref value));
        else if (typeof(T) == typeof(byte)) series.Record((long)Unsafe.As<T, byte>(ref value));
        else if (typeof(T) == typeof(double)) series.Record(Unsafe.As<T, double>(ref value));
        else if (typeof(T) == typeof(float)) series.Record((double)Unsafe.As<T, float>(ref value));
        else if (typeof(T) == typeof(decimal)) series.Record((double)Unsafe.As<T, decimal>(ref value));
    }

    private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        int slot = RecentSlot(tags);
        var recent = Volatile.Read(ref _recent[slot]);
        if (recent is not null && recent.IsSameInstance(tags)) return recent.Series!;
        if (!_lookup.TryGetValue(tags, out var key, out var series)) return AddSeries(tags);
        Volatile.Write(ref _recent[slot], key);
        return series;
    }

    private static int RecentSlot(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        uint h = 0;
        foreach (ref readonly var tag in tags) h = (h * 31) + (uint)RuntimeHelpers.GetHashCode(tag.Value);
        return (int)(h % RecentSlots);
    }
}
