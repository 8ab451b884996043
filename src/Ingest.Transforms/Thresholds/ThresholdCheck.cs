using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// Threshold alerting over a stream of point batches: every rule on every series it matches is OK, WARN, CRIT
/// or NODATA, judged on event time (point timestamps), so replaying the same points gives the same events
/// whatever the batching. Only transitions are reported.
/// </summary>
/// <remarks>
/// <para><b>Not thread-safe: one consumer.</b> <see cref="Process"/>, <see cref="AdvanceWatermark"/>,
/// <see cref="Acknowledge"/>, <see cref="Export"/>, <see cref="Import(ThresholdSnapshot)"/> and
/// <see cref="TakeDirty"/> and <see cref="ActiveAlerts"/> must never run concurrently (call them from the
/// consumer loop, or under one lock). Only <see cref="Counters"/> may be read from any thread.</para>
/// <para><b>Order.</b> Per rule and series, a value older than the last evaluated one is ignored (counted in
/// <see cref="ThresholdCounters.OutOfOrderIgnored"/>): state never goes back in time. An equal timestamp is
/// evaluated (InfluxDB would overwrite the point; the alert follows the newer write).</para>
/// <para><b>Watermark.</b> The largest event time seen; no-data deadlines are measured on it, before each point
/// is evaluated, so batch boundaries do not matter. <see cref="AdvanceWatermark"/> moves it from outside (a
/// wall clock) so that silence is noticed while nothing arrives at all.</para>
/// <para>Steady state (known series) allocates nothing per point: series are found by their hash, rules by
/// measurement and then per series once.</para>
/// </remarks>
public sealed partial class ThresholdCheck
{
    private readonly CompiledRule[] _rules;
    private readonly ThresholdRule[] _ruleSettings;
    private readonly Dictionary<string, CompiledRule> _rulesByName = new(StringComparer.Ordinal);
    private readonly ThresholdCheckOptions _options;

    private AlertState[] _states = new AlertState[256];
    private string[] _alertIds = new string[256];
    private int _stateCount;

    private long _watermark = long.MinValue;
    private long _points, _evaluations, _transitions, _outOfOrder, _nonNumeric, _overCapacity;

    // Per-point scratch: the value each matched rule found in the current point's field set.
    private double[] _values = new double[4];
    private bool[] _found = new bool[4];

    public ThresholdCheck(IReadOnlyList<ThresholdRule> rules, ThresholdCheckOptions? options = null)
    {
        var errors = ThresholdRuleValidator.Validate(rules);
        if (errors.Count > 0) throw new InvalidThresholdRulesException(errors);
        _options = options ?? new ThresholdCheckOptions();
        if (_options.MaxSeries < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxSeries must be positive");
        _ruleSettings = rules.ToArray();
        _rules = new CompiledRule[rules.Count];
        for (int i = 0; i < rules.Count; i++)
        {
            _rules[i] = new CompiledRule(i, rules[i]);
            _rulesByName.Add(rules[i].Name, _rules[i]);
        }
        IndexMeasurements();
        _published = [];
    }

    public IReadOnlyList<ThresholdRule> Rules => _ruleSettings;

    public long Watermark => _watermark;

    public ThresholdCounters Counters => new(
        Volatile.Read(ref _points), Volatile.Read(ref _evaluations), Volatile.Read(ref _transitions),
        Volatile.Read(ref _outOfOrder), Volatile.Read(ref _nonNumeric), Volatile.Read(ref _overCapacity),
        Volatile.Read(ref _seriesCount), Volatile.Read(ref _stateCount), Volatile.Read(ref _watermark));

    /// <summary>
    /// Evaluates every point of <paramref name="batch"/> in order, adding each transition to
    /// <paramref name="events"/>. The batch is only read; the caller keeps ownership.
    /// </summary>
    public void Process(PointBatch batch, ICollection<AlertEvent> events)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(events);
        var points = batch.Points;
        for (int i = 0; i < points.Length; i++)
        {
            long timestamp = points[i].Timestamp;
            _points++;
            if (timestamp > _watermark) _watermark = timestamp;
            if (_watermark > _nextDeadline) ExpireSilentSeries(events);

            var series = FindSeries(batch.SeriesKey(i), points[i].SeriesHash, batch.Database);
            if (series is null || series.States.Length == 0) continue;
            // Same string per request: a reference check keeps this to one compare.
            if (!ReferenceEquals(series.RetentionPolicy, batch.RetentionPolicy)) series.RetentionPolicy = batch.RetentionPolicy;
            EvaluatePoint(series, batch.Fields(i), timestamp, events);
        }
    }

    /// <summary>
    /// Moves the watermark forward to <paramref name="timestamp"/> (ns; never back) and reports series silent
    /// for longer than their no-data timeout. For idle streams; event time alone cannot see silence otherwise.
    /// </summary>
    public void AdvanceWatermark(long timestamp, ICollection<AlertEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (timestamp > _watermark) _watermark = timestamp;
        if (_watermark > _nextDeadline) ExpireSilentSeries(events);
    }
}
