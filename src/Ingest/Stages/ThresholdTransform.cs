using Ingest.LineProtocol;
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

    public ThresholdTransform(ThresholdCheck engine, string measurement, StageStats stats)
    {
        Engine = engine;
        _lines = new AlertLineWriter(measurement);
        _stats = stats;
    }

    public string Name => "threshold";
    public ThresholdCheck Engine { get; }

    /// <summary>Called with each batch of transitions, on the runner's thread.</summary>
    public event Action<IReadOnlyList<AlertEvent>>? Transitions;

    public void Process(PointBatch input, ITransformOutput output)
    {
        _stats.AddReceived(input.Count);
        Engine.Process(input, _events);
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

    private void Publish(ITransformOutput output, string database, string retentionPolicy)
    {
        if (_events.Count == 0) return;
        var batch = PointBatch.Rent();
        batch.Database = database;
        batch.RetentionPolicy = retentionPolicy;
        foreach (var e in _events) _lines.Write(e, batch);
        _stats.AddSent(batch.Count);
        Transitions?.Invoke(_events);
        _events.Clear();
        output.Derived(batch);
    }
}
