using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Thresholds;

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
    }

    public string Name => "threshold";

    /// <summary>The rules' engine; replaced by <see cref="Reconfigure"/>. Read it under <see cref="AlertPath.RunExclusive{T}"/>.</summary>
    public ThresholdCheck Engine { get; private set; }

    /// <summary>
    /// Puts an engine for <paramref name="rules"/> in place of the running one, carrying its state (see
    /// <see cref="ThresholdCheck.Reconfigure"/>). Call under <see cref="AlertPath.RunExclusive{T}"/>.
    /// </summary>
    public RuleChanges Reconfigure(IReadOnlyList<ThresholdRule> rules)
    {
        Engine = Engine.Reconfigure(rules, out var changes);
        return changes;
    }

    /// <summary>Called with each batch of transitions, on the runner's thread.</summary>
    public event Action<IReadOnlyList<AlertEvent>>? Transitions;

    public void Process(PointBatch input, ITransformOutput output)
    {
        _stats.AddReceived(input.Count);
        Engine.Process(input, _events);
        if (_latency is not null && input.AcceptedAt != 0 && _events.Count > 0)
        {
            var seconds = Stopwatch.GetElapsedTime(input.AcceptedAt).TotalSeconds;
            for (var i = 0; i < _events.Count; i++) _latency.Record(seconds);
        }
        Publish(output);
    }

    /// <summary>Moves the no-data clock forward when points stop coming.</summary>
    public void AdvanceWatermark(long timestamp, ITransformOutput output)
    {
        Engine.AdvanceWatermark(timestamp, _events);
        Publish(output);
    }

    public void Flush(ITransformOutput output)
    {
    }

    /// <summary>
    /// Alert events go where their series' points went (its database, the retention policy of its last point),
    /// so a dashboard finds them beside the data; no-data events too, though another batch noticed them.
    /// </summary>
    private void Publish(ITransformOutput output)
    {
        if (_events.Count == 0) return;
        var batches = new Dictionary<(string, string), PointBatch>();
        foreach (var e in _events)
        {
            var target = (e.Database, e.RetentionPolicy);
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
