namespace Ingest.Transforms.Thresholds;

public sealed partial class ThresholdCheck
{
    private readonly Dictionary<string, int> _stateIndexById = new(StringComparer.Ordinal);
    // Indices of states not at OK, so that publishing costs the active alerts, not every series.
    private readonly HashSet<int> _active = new();
    private ActiveAlert[] _published;
    private bool _activeChanged;

    private void LevelChanged(int index)
    {
        if (_states[index].Level == AlertLevel.Ok) _active.Remove(index);
        else _active.Add(index);
        _activeChanged = true;
    }

    /// <summary>
    /// Every rule and series not at OK, ordered by since then id: a copy, built when first read after a change.
    /// Building it costs the number of active alerts, so it is done for a reader, not after every batch (with
    /// thousands of alerts active, that would cost more than the evaluation itself). Not thread-safe: read it
    /// where <see cref="Process"/> is called, under the same exclusion.
    /// </summary>
    public IReadOnlyList<ActiveAlert> ActiveAlerts
    {
        get
        {
            PublishIfChanged();
            return _published;
        }
    }

    /// <summary>Number of rule and series states not at OK. Same thread rule as <see cref="ActiveAlerts"/>.</summary>
    public int ActiveCount => _active.Count;

    /// <summary>
    /// Records who acknowledged an active alert. False when the id is unknown or the alert is OK. A later
    /// transition (escalation included) clears the acknowledgement: it is a new situation to look at.
    /// </summary>
    public bool Acknowledge(string id, string by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentException.ThrowIfNullOrEmpty(by);
        if (!_stateIndexById.TryGetValue(id, out int index)) return false;
        ref var state = ref _states[index];
        if (state.Level == AlertLevel.Ok) return false;
        state.AcknowledgedBy = by;
        state.AcknowledgedAt = ToNanoseconds(at);
        MarkDirty(index);
        _activeChanged = true;
        return true;
    }

    private void PublishIfChanged()
    {
        if (!_activeChanged) return;
        _activeChanged = false;
        var active = new List<ActiveAlert>(_active.Count);
        foreach (int i in _active)
        {
            ref readonly var state = ref _states[i];
            var series = _seriesList[state.Series];
            var rule = _rules[state.Rule];
            active.Add(new ActiveAlert(_alertIds[i], rule.Name, series.Database, series.KeyText, series.Measurement, series.Tags, rule.Rule.Field,
                state.Level, state.LevelSince, state.LastValue, state.AcknowledgedBy,
                state.AcknowledgedBy is null ? null : FromNanoseconds(state.AcknowledgedAt)));
        }
        active.Sort((a, b) => a.Since != b.Since ? a.Since.CompareTo(b.Since) : string.CompareOrdinal(a.Id, b.Id));
        _published = active.ToArray();
    }

    private static long ToNanoseconds(DateTimeOffset at) => (at.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * TimeSpan.NanosecondsPerTick;

    private static DateTimeOffset FromNanoseconds(long ns) => DateTimeOffset.UnixEpoch.AddTicks(ns / TimeSpan.NanosecondsPerTick);
}
