using System.Diagnostics.Metrics;
using Ingest.Telemetry.Prometheus.Aggregation;

namespace Ingest.Telemetry.Prometheus;

/// <summary>
/// Aggregates System.Diagnostics.Metrics measurements from the configured meters and renders them in the
/// Prometheus text exposition format 0.0.4. Recording is lock-free for known label sets; scrapes are
/// serialised with each other but never block recording.
/// </summary>
public sealed partial class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of <see cref="Write"/>'s output; Prometheus 3 fails a scrape without it.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterNameFilter _filter;
    private readonly int _maxSeries;
    private readonly IReadOnlyList<double> _defaultBounds;
    private readonly ExporterCounters _counters = new();
    private readonly Lock _instrumentsGate = new();
    private readonly List<InstrumentState> _instruments = [];
    private readonly MeterListener _listener;
    private long _nextSequence;
    private int _instrumentsVersion;
    private bool _disposed;

    public PrometheusExporter(PrometheusExporterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _filter = new MeterNameFilter(options.MeterNames);
        _maxSeries = options.MaxSeriesPerInstrument;
        _defaultBounds = options.DefaultHistogramBoundaries.ToArray();

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

    /// <summary>Label sets rejected so far by <see cref="PrometheusExporterOptions.MaxSeriesPerInstrument"/>.</summary>
    public long DroppedSeries => Interlocked.Read(ref _counters.SeriesDropped);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _listener.Dispose();
        _scrapeGate.Dispose();
    }

    private static void OnMeasurement<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct
    {
        if (state is InstrumentState s) s.Record(value, tags);
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_filter.Matches(instrument.Meter.Name) || !InstrumentKind.TryClassify(instrument, out var kind)) return;
        var state = new InstrumentState(instrument, kind, Interlocked.Increment(ref _nextSequence), _maxSeries, _defaultBounds, _counters);
        lock (_instrumentsGate)
        {
            _instruments.Add(state);
            _instrumentsVersion++;
        }
        listener.EnableMeasurementEvents(instrument, state);
    }

    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        if (state is not InstrumentState s) return;
        lock (_instrumentsGate)
        {
            _instruments.Remove(s);
            _instrumentsVersion++;
        }
    }
}
