using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Ingest.Pipeline;
using Ingest.Transforms.Thresholds;

namespace Ingest.Stages;

/// <summary>
/// The threshold rules as a pipeline transform: every state transition becomes a point of the alerts
/// measurement (a derived batch) and is handed to the listeners (alert store, live feed).
/// </summary>
public sealed class ThresholdTransform : ITransformStage
{
    private readonly AlertLineWriter _lines;
    private readonly StageStats _stats;
    private readonly List<AlertEvent> _events = new();

    private readonly Histogram<double>? _latency;

    public ThresholdTransform(ThresholdCheck engine, string measurement, StageStats stats, IngestMeter? meter = null)
    {
        _latency = meter?.Meter.CreateHistogram<double>("ingest.alert.latency", "s",
            "Time from a point's acknowledgement to the alert event it caused.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        Engine = engine;
        _lines = new AlertLineWriter(measurement);
        _stats = stats;
        if (engine.Rules.Any(r => r.NoDataTimeout is not null)) _lastTarget = new();
    }

    public string Name => "threshold";
    public ThresholdCheck Engine { get; }

    /// <summary>Called with each batch of transitions, on the runner's thread.</summary>
    public event Action<IReadOnlyList<AlertEvent>>? Transitions;

    // Where each series was last written, for no-data events: they are noticed while some other batch is being
    // processed, and belong beside the silent series' data. Kept only when a rule has a no-data timeout.
    private readonly Dictionary<ulong, (string Database, string RetentionPolicy)>? _lastTarget;

    public void Process(PointBatch input, ITransformOutput output)
    {
        _stats.AddReceived(input.Count);
        if (_lastTarget is not null) RememberTargets(input);
        Engine.Process(input, _events);
        if (_latency is not null && input.AcceptedAt != 0 && _events.Count > 0)
        {
            var seconds = Stopwatch.GetElapsedTime(input.AcceptedAt).TotalSeconds;
            for (var i = 0; i < _events.Count; i++) _latency.Record(seconds);
        }
        // Alert events go where the points that caused them went, so a dashboard finds them beside the data.
        Publish(output, input.Database, input.RetentionPolicy);
    }

    /// <summary>Moves the no-data clock forward when points stop coming.</summary>
    public void AdvanceWatermark(long timestamp, ITransformOutput output)
    {
        Engine.AdvanceWatermark(timestamp, _events);
        Publish(output, "", "");
    }

    public void Flush(ITransformOutput output)
    {
    }

    private void RememberTargets(PointBatch input)
    {
        foreach (ref readonly var p in input.Points)
        {
            ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_lastTarget!, p.SeriesHash, out _);
            // Same strings per request: a reference check keeps the common case to one lookup.
            if (!ReferenceEquals(slot.Database, input.Database) || !ReferenceEquals(slot.RetentionPolicy, input.RetentionPolicy))
                slot = (input.Database, input.RetentionPolicy);
        }
    }

    private void Publish(ITransformOutput output, string database, string retentionPolicy)
    {
        if (_events.Count == 0) return;
        var batches = new Dictionary<(string, string), PointBatch>();
        foreach (var e in _events)
        {
            var target = (database, retentionPolicy);
            if (e.Reason == AlertReason.NoData && _lastTarget is not null &&
                _lastTarget.TryGetValue(SeriesKeyHash.Compute(System.Text.Encoding.UTF8.GetBytes(e.SeriesKey)), out var last))
                target = last;
            if (!batches.TryGetValue(target, out var batch))
            {
                batches[target] = batch = PointBatch.Rent();
                batch.Database = target.Item1;
                batch.RetentionPolicy = target.Item2;
            }
            _lines.Write(e, batch);
        }
        Transitions?.Invoke(_events);
        _events.Clear();
        foreach (var batch in batches.Values)
        {
            _stats.AddSent(batch.Count);
            output.Derived(batch);
        }
    }
}
