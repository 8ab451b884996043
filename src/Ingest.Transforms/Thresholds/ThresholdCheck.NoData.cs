namespace Ingest.Transforms.Thresholds;

public sealed partial class ThresholdCheck
{
    // A lower bound of every state's no-data deadline: states only ever push their own deadline later, so the
    // bound stays valid between scans, and a scan runs only when the watermark passes it.
    private long _nextDeadline = long.MaxValue;
    private readonly List<(long Deadline, int State)> _expired = new();

    /// <summary>
    /// Moves every state whose deadline the watermark has passed (strictly: a point exactly one timeout after
    /// the last is still in time) to NoData, in deadline then alert-id order, each stamped with its own deadline
    /// so that the event time does not depend on when the scan ran.
    /// </summary>
    private void ExpireSilentSeries(ICollection<AlertEvent> events)
    {
        long next = long.MaxValue;
        _expired.Clear();
        for (int i = 0; i < _stateCount; i++)
        {
            long deadline = AlertStateMachine.NoDataDeadline(_rules[_states[i].Rule], _states[i]);
            if (deadline == long.MaxValue) continue;
            if (_watermark > deadline) _expired.Add((deadline, i));
            else if (deadline < next) next = deadline;
        }
        _nextDeadline = next;
        if (_expired.Count == 0) return;

        _expired.Sort((a, b) => a.Deadline != b.Deadline
            ? a.Deadline.CompareTo(b.Deadline)
            : string.CompareOrdinal(_alertIds[a.State], _alertIds[b.State]));
        foreach (var (deadline, index) in _expired)
        {
            ref var state = ref _states[index];
            var previous = state.Level;
            AlertStateMachine.GoSilent(ref state, deadline);
            MarkDirty(index);
            var rule = _rules[state.Rule];
            var series = _seriesList[state.Series];
            _transitions++;
            LevelChanged(index);
            events.Add(new AlertEvent(_alertIds[index], rule.Name, series.Database, series.KeyText, series.Measurement, series.Tags,
                rule.Rule.Field, previous, AlertLevel.NoData, AlertReason.NoData, state.LastValue, deadline,
                AlertMessages.NoData(rule, series, previous)) { RetentionPolicy = series.RetentionPolicy });
        }
    }
}
