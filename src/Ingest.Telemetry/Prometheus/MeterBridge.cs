using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Bridge;
using Prometheus;

namespace Ingest.Telemetry.Prometheus;

/// <summary>
/// Publishes System.Diagnostics.Metrics instruments of the configured meters as prometheus-net metrics in one
/// <see cref="CollectorRegistry"/>, named by this project's rules (src/Ingest.Telemetry/README.md) rather than by
/// prometheus-net's own MeterAdapter, whose names (meter name prefixed, every counter a gauge, no units) would
/// break the documented families. prometheus-net renders the registry (text 0.0.4 or OpenMetrics).
/// Recording for a known label set is a lookup plus the prometheus-net child's own atomic update.
/// </summary>
public sealed class MeterBridge : IDisposable
{
    /// <summary>The bridge's own counter of label sets rejected by the cardinality limit.</summary>
    public const string DroppedSeriesName = "ingest_telemetry_series_dropped_total";

    private readonly MeterNameFilter _filter;
    private readonly MeterBridgeOptions _options;
    private readonly IMetricFactory _factory;
    private readonly Counter _droppedSeries;
    private readonly Lock _namesGate = new();
    private readonly Dictionary<string, InstrumentBinding?> _names = new(StringComparer.Ordinal);
    private readonly Lock _scrapeGate = new();
    private readonly MeterListener _listener;
    private volatile bool _disposed;
    private int _epoch;

    public MeterBridge(MeterBridgeOptions options, CollectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(registry);
        options.Validate();
        _options = options;
        _filter = new MeterNameFilter(options.MeterNames);
        Registry = registry;
        _factory = Metrics.WithCustomRegistry(registry);
        _droppedSeries = _factory.CreateCounter(DroppedSeriesName,
            "Label sets not tracked because an instrument reached the per-instrument series limit.");
        // Null: names the bridge holds for its own metric.
        _names[DroppedSeriesName] = null;
        _names["ingest_telemetry_series_dropped"] = null;
        registry.AddBeforeCollectCallback(Observe);

        // Subscribing is all the built-in "System.Runtime" meter needs: the runtime creates it when the
        // first MeterListener starts, and its instruments are published to this listener like any other.
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };
        _listener.SetMeasurementEventCallback<byte>(OnMeasurement);
        _listener.SetMeasurementEventCallback<short>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<float>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.SetMeasurementEventCallback<decimal>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The registry the instruments are published in; serve it with prometheus-net (MapMetrics).</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Label sets rejected so far by <see cref="MeterBridgeOptions.MaxSeriesPerInstrument"/>.</summary>
    public long DroppedSeries => (long)_droppedSeries.Value;

    /// <summary>Runs the observable callbacks, as a scrape does; for callers that read values without serialising.</summary>
    public void Observe()
    {
        if (_disposed) return;
        lock (_scrapeGate)
        {
            int epoch = Interlocked.Increment(ref _epoch);
            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (Exception)
            {
                // One failing observable callback must not cost the scrape of every other metric;
                // its series are simply absent this time (not reported in this epoch).
            }
            foreach (var binding in ObservableBindings()) binding.RemoveUnreported(epoch);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _listener.Dispose();
    }

    private InstrumentBinding[] ObservableBindings()
    {
        lock (_namesGate) return _names.Values.OfType<InstrumentBinding>().Distinct().Where(b => b.IsObservable && b.IsActive).ToArray();
    }

    private static void OnMeasurement<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct
    {
        if (state is InstrumentBinding binding) binding.Record(value, tags);
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_filter.Matches(instrument.Meter.Name) || !InstrumentKind.TryClassify(instrument, out var kind)) return;
        InstrumentBinding binding;
        lock (_namesGate)
        {
            var name = Naming.MetricNaming.Create(instrument.Name, instrument.Unit, kind.Type, kind.IsOtelGauge);
            string family = FreeName(name, kind);
            binding = new InstrumentBinding(instrument, kind, name with { Name = family }, _factory, _options, _droppedSeries, () => Volatile.Read(ref _epoch));
            foreach (var claim in Claims(family, kind)) _names[claim] = binding;
        }
        listener.EnableMeasurementEvents(instrument, binding);
    }

    /// <summary>
    /// The first instrument to ask for a family name keeps it; a later one of another identity gets "_2", "_3"…
    /// (<see cref="Naming.MetricName.WithOrdinal"/>), since prometheus-net would either refuse a second type
    /// under one name or silently add two instruments' values into one series. A counter also holds its name
    /// without "_total", which is its family name in OpenMetrics, so that a gauge "x" and a counter "x_total" do
    /// not clash there. An instrument published again after its meter was disposed takes back a name its
    /// predecessor of the same type left.
    /// </summary>
    private string FreeName(Naming.MetricName name, InstrumentKind kind)
    {
        for (int ordinal = 1; ; ordinal++)
        {
            string candidate = ordinal == 1 ? name.Name : name.WithOrdinal(ordinal);
            if (Claims(candidate, kind).All(c => IsFree(c, kind))) return candidate;
        }
    }

    private bool IsFree(string claim, InstrumentKind kind) =>
        !_names.TryGetValue(claim, out var holder) || (holder is { IsActive: false } && holder.Kind.Type == kind.Type);

    private static IEnumerable<string> Claims(string family, InstrumentKind kind)
    {
        yield return family;
        if (kind.Type == Naming.PrometheusType.Counter && family.EndsWith("_total", StringComparison.Ordinal)) yield return family[..^"_total".Length];
    }

    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        if (state is not InstrumentBinding binding) return;
        lock (_scrapeGate) binding.Complete();
    }
}
