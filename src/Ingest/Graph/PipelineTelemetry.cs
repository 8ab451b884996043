using System.Diagnostics.Metrics;
using Ingest.Telemetry;

namespace Ingest.Graph;

/// <summary>Exports every stage's <see cref="StageStats"/> as <c>ingest_stage_*</c> metrics, tagged by stage.</summary>
public sealed class PipelineTelemetry
{
    private readonly List<StageStats> _stages = new();

    public PipelineTelemetry(IngestMeter meter)
    {
        var m = meter.Meter;
        m.CreateObservableCounter("ingest.stage.received", () => Each(s => s.Received), "{point}", "Points a stage took in, by stage.");
        m.CreateObservableCounter("ingest.stage.sent", () => Each(s => s.Sent), "{point}", "Points a stage passed on, by stage.");
        m.CreateObservableCounter("ingest.stage.dropped", () => EachKeyed(s => s.Dropped, "reason"), "{point}",
            "Points a stage dropped, by stage and reason (queue_full, evicted, late, …).");
        m.CreateObservableCounter("ingest.stage.errors", () => EachKeyed(s => s.Errors, "type"), "{error}", "Errors of a stage, by stage and type.");
        m.CreateObservableGauge("ingest.stage.queue.points", () => Queued(), "{point}", "Points waiting in a stage's queue, by stage.");
    }

    public IReadOnlyList<StageStats> Stages { get { lock (_stages) return _stages.ToList(); } }

    public StageStats Register(StageStats stats)
    {
        lock (_stages) _stages.Add(stats);
        return stats;
    }

    private IEnumerable<Measurement<long>> Each(Func<StageStats, long> value) =>
        Stages.Select(s => new Measurement<long>(value(s), new KeyValuePair<string, object?>("stage", s.Name)));

    private IEnumerable<Measurement<long>> EachKeyed(Func<StageStats, IDictionary<string, long>> values, string label) =>
        Stages.SelectMany(s => values(s).Select(kv => new Measurement<long>(kv.Value, new("stage", s.Name), new(label, kv.Key))));

    private IEnumerable<Measurement<long>> Queued() =>
        Stages.Where(s => s.QueueDepth is not null).Select(s => new Measurement<long>(s.QueueDepth!(), new KeyValuePair<string, object?>("stage", s.Name)));
}
