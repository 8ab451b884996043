using System.Diagnostics.Metrics;
using Ingest.Graph;
using Ingest.Telemetry;
using Microsoft.Extensions.Logging;

namespace Ingest.Sinks.Influx;

/// <summary>The sinks' instruments, created once per meter and shared by every sink (each tags its own name).</summary>
public sealed class SinkInstruments
{
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public SinkInstruments(IngestMeter meter)
    {
        var m = meter.Meter;
        Batches = m.CreateCounter<long>("ingest.sink.batches", "{batch}", "Write requests that reached a final outcome, by sink and outcome (delivered, partial, rejected).");
        Written = m.CreateCounter<long>("ingest.sink.points.written", "{point}", "Points stored by the sink's destination.");
        Dropped = m.CreateCounter<long>("ingest.sink.points.dropped", "{point}", "Points the destination refused for good and the dead letter could not keep, by sink and reason.");
        DeadLettered = m.CreateCounter<long>("ingest.sink.points.dead_lettered", "{point}", "Points the destination would not store, set aside in the dead-letter directory, by sink and reason.");
        Retries = m.CreateCounter<long>("ingest.sink.retries", "{retry}", "Write attempts that failed and were retried, by sink and error type.");
        Errors = m.CreateCounter<long>("ingest.errors", "{error}", "Errors by stage and type, retried or not.");
        Latency = m.CreateHistogram<double>("ingest.sink.write.duration", "s", "Time of one write attempt to the destination, by sink.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
    }

    public Counter<long> Batches { get; }
    public Counter<long> Written { get; }
    public Counter<long> Dropped { get; }
    public Counter<long> DeadLettered { get; }
    public Counter<long> Retries { get; }
    public Counter<long> Errors { get; }
    public Histogram<double> Latency { get; }
}

/// <summary>
/// Instruments and log events of one InfluxDB sink, tagged with its name; and, when given, its stage's counters
/// (<c>/api/status</c>), which see every outcome the instruments see, under the same reasons: points stored are
/// sent, points lost are dropped, points set aside are dead-lettered.
/// </summary>
public sealed partial class InfluxSinkTelemetry
{
    private readonly KeyValuePair<string, object?> _sinkTag;
    private readonly Counter<long> _batches;
    private readonly Counter<long> _written;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _latency;
    private readonly ILogger _logger;
    private readonly string _stage;
    private readonly StageStats? _stats;
    private long _lastRejectLogTicks;

    public InfluxSinkTelemetry(IngestMeter meter, ILogger<InfluxSinkTelemetry> logger)
        : this(new SinkInstruments(meter), logger, "influx")
    {
    }

    /// <param name="stats">The sink's stage counters, kept with the instruments; null for none.</param>
    public InfluxSinkTelemetry(SinkInstruments instruments, ILogger logger, string sinkName, StageStats? stats = null)
    {
        _sinkTag = new("sink", sinkName);
        _stage = sinkName;
        _stats = stats;
        _batches = instruments.Batches;
        _written = instruments.Written;
        _dropped = instruments.Dropped;
        _deadLettered = instruments.DeadLettered;
        _retries = instruments.Retries;
        _errors = instruments.Errors;
        _latency = instruments.Latency;
        _logger = logger;
    }

    public void Attempt(TimeSpan elapsed) => _latency.Record(elapsed.TotalSeconds, _sinkTag);

    /// <summary>
    /// One write reached its final outcome: <paramref name="setAside"/> of its points went to the dead letter and
    /// <paramref name="dropped"/> were lost, the rest are stored.
    /// </summary>
    public void Finished(int points, int setAside, int dropped)
    {
        var outcome = setAside + dropped == 0 ? "delivered" : setAside + dropped >= points ? "rejected" : "partial";
        _batches.Add(1, _sinkTag, new("outcome", outcome));
        var written = points - setAside - dropped;
        if (written > 0)
        {
            _written.Add(written, _sinkTag);
            _stats?.AddSent(written);
        }
    }

    /// <summary>Counts and logs (at most once a second) points InfluxDB refused that nothing keeps; returns <paramref name="points"/>.</summary>
    public int Dropped(int points, string reason, WriteResult result)
    {
        if (points > 0)
        {
            _dropped.Add(points, _sinkTag, new("reason", reason));
            _stats?.AddDropped(reason, points);
        }
        _errors.Add(1, new("stage", _stage), new("type", result.ErrorType));
        // At most one such log a second: a client that keeps sending bad points must not flood the journal.
        if (Due()) LogRejected(points, result.StatusCode, reason, result.Error ?? "");
        return points;
    }

    /// <summary>Counts and logs (at most once a second, with a sample line) points set aside in the dead letter.</summary>
    public void DeadLettered(int points, string reason, WriteResult result, InfluxTarget target, string sample)
    {
        _deadLettered.Add(points, _sinkTag, new("reason", reason));
        _stats?.AddDeadLettered(reason, points);
        _errors.Add(1, new("stage", _stage), new("type", result.ErrorType));
        if (Due()) LogDeadLettered(points, target.Database, target.RetentionPolicy, reason, result.StatusCode, result.Error ?? result.ErrorType, sample);
    }

    private bool Due()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRejectLogTicks);
        return now - last >= 1000 && Interlocked.CompareExchange(ref _lastRejectLogTicks, now, last) == last;
    }

    public void Retrying(WriteResult result, int attempt, TimeSpan delay)
    {
        _retries.Add(1, _sinkTag, new("error_type", result.ErrorType));
        _errors.Add(1, new("stage", _stage), new("type", result.ErrorType));
        LogRetry(attempt + 1, result.ErrorType, result.Error ?? "", delay.TotalSeconds);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "InfluxDB refused {Points} points for good and they were dropped (HTTP {Status}, {Reason}): {Error}")]
    private partial void LogRejected(int points, int status, string reason, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "InfluxDB would not store {Points} points for database {Database} (retention policy '{RetentionPolicy}'), set aside in the dead letter ({Reason}, HTTP {Status}: {Error}); first: {Sample}")]
    private partial void LogDeadLettered(int points, string database, string retentionPolicy, string reason, int status, string error, string sample);

    [LoggerMessage(Level = LogLevel.Warning, Message = "InfluxDB write attempt {Attempt} failed ({ErrorType}: {Error}); retrying in {DelaySeconds:0.###} s")]
    private partial void LogRetry(int attempt, string errorType, string error, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created InfluxDB database {Database}")]
    public partial void DatabaseCreated(string database);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stopped with {Points} points not delivered to InfluxDB (it did not accept them before the shutdown deadline)")]
    public partial void LostAtShutdown(long points);
}
