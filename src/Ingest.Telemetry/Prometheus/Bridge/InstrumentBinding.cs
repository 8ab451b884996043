using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Ingest.Telemetry.Prometheus.Naming;
using Prometheus;

namespace Ingest.Telemetry.Prometheus.Bridge;

/// <summary>
/// One instrument and the prometheus-net metrics it is published as. Recording for a known tag combination is a
/// reference comparison against a recently used key (or, failing that, a lock-free dictionary lookup over the
/// callback's tag span) plus the child's own atomic update; the lock is only taken to add a series
/// (InstrumentBinding.NewSeries.cs).
/// </summary>
internal sealed partial class InstrumentBinding
{
    private readonly ConcurrentDictionary<TagKey, Series> _byTags = new(TagKeyComparer.Instance);
    private readonly ConcurrentDictionary<TagKey, Series>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Series> _byLabels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _droppedLabels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Collector> _collectors = new(StringComparer.Ordinal);
    private readonly IMetricFactory _factory;
    private readonly Counter _droppedSeries;
    private readonly Func<int> _epoch;
    private readonly string _help;
    private readonly int _maxSeries;
    private readonly int _droppedMemoLimit;
    private readonly int _tagKeyLimit;
    private volatile bool _completed;

    /// <summary>
    /// Recently used keys, indexed by the identity of the tag values. Callers mostly pass the same string
    /// instances again (constants, cached values), and comparing references is far cheaper than hashing strings.
    /// </summary>
    private readonly TagKey?[] _recent = new TagKey?[RecentSlots];

    private const int RecentSlots = 8;

    /// <summary>Rejected label sets remembered so each is counted once, even under a small series limit.</summary>
    private const int MinDroppedMemo = 1024;

    public InstrumentBinding(Instrument instrument, InstrumentKind kind, MetricName name, IMetricFactory factory,
        MeterBridgeOptions options, Counter droppedSeries, Func<int> epoch)
    {
        Instrument = instrument;
        Kind = kind;
        Name = name;
        _factory = factory;
        _droppedSeries = droppedSeries;
        _epoch = epoch;
        _help = HelpText.For(instrument);
        _maxSeries = options.MaxSeriesPerInstrument;
        _droppedMemoLimit = Math.Max(_maxSeries, MinDroppedMemo);
        // Each caller ordering of the same tags is its own key; bound them so odd callers cannot grow memory.
        _tagKeyLimit = 4 * _maxSeries + _droppedMemoLimit;
        _lookup = _byTags.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        if (kind.Type == PrometheusType.Histogram) Buckets = HistogramBounds.For(instrument, name.Scale, options.DefaultHistogramBoundaries);
    }

    public Instrument Instrument { get; }

    public InstrumentKind Kind { get; }

    /// <summary>The family name after collisions were resolved, with the unit scale.</summary>
    public MetricName Name { get; }

    public bool IsObservable => Kind.IsObservable;

    /// <summary>False once the instrument's meter was disposed; its series are gone from the registry.</summary>
    public bool IsActive => !_completed;

    /// <summary>Bucket upper bounds in the Prometheus base unit (measurements are converted before they are observed).</summary>
    public double[] Buckets { get; } = [];

    public void Record<T>(T value, ReadOnlySpan<KeyValuePair<string, object?>> tags) where T : struct
    {
        if (_completed) return;
        // typeof(T) checks are folded away per instantiation, so each T compiles to a single conversion.
        double raw;
        if (typeof(T) == typeof(long)) raw = Unsafe.As<T, long>(ref value);
        else if (typeof(T) == typeof(int)) raw = Unsafe.As<T, int>(ref value);
        else if (typeof(T) == typeof(short)) raw = Unsafe.As<T, short>(ref value);
        else if (typeof(T) == typeof(byte)) raw = Unsafe.As<T, byte>(ref value);
        else if (typeof(T) == typeof(double)) raw = Unsafe.As<T, double>(ref value);
        else if (typeof(T) == typeof(float)) raw = Unsafe.As<T, float>(ref value);
        else if (typeof(T) == typeof(decimal)) raw = (double)Unsafe.As<T, decimal>(ref value);
        else return;

        var series = Find(tags);
        if (IsObservable) series.Epoch = _epoch();
        series.Record(Name.Scale.IsIdentity ? raw : Name.Scale.Apply(raw));
    }

    /// <summary>Drops the series of an observable instrument that its latest callback did not report.</summary>
    public void RemoveUnreported(int epoch)
    {
        Series[] all;
        lock (_gate) all = _byLabels.Values.ToArray();
        foreach (var series in all)
        {
            if (series.Epoch != epoch) series.Detach();
        }
    }

    /// <summary>The meter was disposed: its series leave the registry (prometheus-net keeps the empty family).</summary>
    public void Complete()
    {
        _completed = true;
        lock (_gate)
        {
            foreach (var series in _byLabels.Values) series.Detach();
        }
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
