using Ingest.Graph;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Thresholds;

namespace Ingest.Configuration;

/// <summary>How the stream graph routes points (section <c>Pipeline</c>).</summary>
public sealed record PipelineOptions
{
    /// <summary>Measurement globs whose raw points are not written to InfluxDB (they still feed the transforms).</summary>
    public IReadOnlyList<string> RawExclude { get; init; } = [];

    /// <summary>Points queued for the InfluxDB sink of downsampled windows.</summary>
    public long DerivedQueueCapacity { get; init; } = 1_000_000;

    /// <summary>Points queued for the InfluxDB sink of alert events.</summary>
    public long AlertQueueCapacity { get; init; } = 100_000;

    /// <summary>What the derived-points queues (windows, alert events) do when full.</summary>
    public FullPolicy DerivedQueuePolicy { get; init; } = FullPolicy.Backpressure;

    /// <summary>Points queued between the transforms and the raw InfluxDB sink.</summary>
    public long RawQueueCapacity { get; init; } = 1_000_000;

    /// <summary>
    /// Points the transforms branch may hold behind raw delivery (taken from the buffer, not yet transformed). Raw
    /// delivery goes on at its own pace until the transforms are this far behind, then waits for them.
    /// </summary>
    public long TransformQueueCapacity { get; init; } = 1_000_000;
}

/// <summary>Threshold checks (section <c>Thresholds</c>).</summary>
public sealed record ThresholdsOptions
{
    public IReadOnlyList<ThresholdRule> Rules { get; init; } = [];

    /// <summary>InfluxDB measurement the alert events are written to.</summary>
    public string Measurement { get; init; } = "alerts";

    /// <summary>How often changed alert states are written to Redis (coalesced).</summary>
    public TimeSpan StateFlushInterval { get; init; } = TimeSpan.FromSeconds(1);
}
