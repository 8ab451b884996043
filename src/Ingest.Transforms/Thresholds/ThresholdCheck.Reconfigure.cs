namespace Ingest.Transforms.Thresholds;

/// <summary>What a <see cref="ThresholdCheck.Reconfigure"/> did with each rule, by name, in configuration order.</summary>
/// <param name="Unchanged">Rules whose every setting is equal: their states carry over whole.</param>
/// <param name="Changed">Rules of the same name with other settings: levels carry over, pending and keep-firing progress do not.</param>
/// <param name="Added">Rules new to the configuration: they start at OK.</param>
/// <param name="Removed">Rules no longer configured: their states (and active alerts) are gone.</param>
public sealed record RuleChanges(IReadOnlyList<string> Unchanged, IReadOnlyList<string> Changed, IReadOnlyList<string> Added, IReadOnlyList<string> Removed);

// A configuration reload: a new engine for new rules, carrying over what the old rules' states still mean.
public sealed partial class ThresholdCheck
{
    /// <summary>
    /// Returns a new engine for <paramref name="rules"/> that carries this one's state; this engine is not used
    /// afterwards. Rules are matched by name. An unchanged rule keeps every series' state exactly (level, pending
    /// <c>For</c> progress, keep-firing countdown, acknowledgement, out-of-order and no-data reference). A changed rule
    /// keeps each series' level, its start, the last value and time and the acknowledgement, and forgets pending and
    /// keep-firing progress, which measured the old condition; series its tag matchers no longer match are forgotten.
    /// A removed rule's states are gone; an added rule starts at OK for every series. The watermark, the no-data
    /// deadlines, the counters and the states not yet taken by <see cref="TakeDirty"/> carry over.
    /// </summary>
    /// <exception cref="InvalidThresholdRulesException">The rules are invalid (nothing was changed).</exception>
    public ThresholdCheck Reconfigure(IReadOnlyList<ThresholdRule> rules, out RuleChanges changes)
    {
        var next = new ThresholdCheck(rules, _options);

        // Per rule of this engine: the rule of the new one its states go to (-1: none), and whether the settings changed.
        var target = new int[_rules.Length];
        var changed = new bool[_rules.Length];
        List<string> unchangedNames = [], changedNames = [], addedNames = [], removedNames = [];
        foreach (var rule in next._rules)
        {
            if (!_rulesByName.TryGetValue(rule.Name, out var old)) { addedNames.Add(rule.Name); continue; }
            target[old.Index] = rule.Index + 1;
            changed[old.Index] = !SameSettings(old.Rule, rule.Rule);
            (changed[old.Index] ? changedNames : unchangedNames).Add(rule.Name);
        }
        foreach (var rule in _rules)
        {
            target[rule.Index]--;
            if (target[rule.Index] < 0) removedNames.Add(rule.Name);
        }
        changes = new RuleChanges(unchangedNames, changedNames, addedNames, removedNames);

        // Every series known here, in the order first seen, gets the states the new rules give it (added rules
        // included); series of measurements no rule reads any more are forgotten.
        var moved = new int[_stateCount];
        moved.AsSpan().Fill(-1);
        foreach (var old in _seriesList)
        {
            var candidates = next.RulesFor(old.Key);
            if (candidates is null) continue;
            var series = next.AddSeries(
                new SeriesEntry(old.Key, old.Hash, old.Database, old.KeyText, old.Measurement, old.Tags) { RetentionPolicy = old.RetentionPolicy },
                candidates);
            foreach (int from in old.States)
            {
                int rule = target[_states[from].Rule];
                if (rule < 0) continue;
                foreach (int to in series.States)
                {
                    if (next._states[to].Rule != rule) continue;
                    next.CarryOver(to, _states[from], changed[_states[from].Rule]);
                    moved[from] = to;
                    break;
                }
            }
        }

        // Dirty states stay dirty, in the order they became so.
        foreach (int from in _dirty)
        {
            if (moved[from] >= 0) next.MarkDirty(moved[from]);
        }

        next._watermark = _watermark;
        next._points = _points;
        next._evaluations = _evaluations;
        next._transitions = _transitions;
        next._outOfOrder = _outOfOrder;
        next._nonNumeric = _nonNumeric;
        next._overCapacity = _overCapacity;
        // Deadlines are the carried states' own (last evaluated + timeout): the first point or watermark move rescans.
        next._nextDeadline = long.MinValue;
        next._activeChanged = true;
        return next;
    }

    /// <summary>Takes a state of the previous engine; of a changed rule, without the progress that measured the old condition.</summary>
    private void CarryOver(int index, in AlertState from, bool ruleChanged)
    {
        ref var state = ref _states[index];
        state.Level = from.Level;
        state.LevelSince = from.LevelSince;
        state.LastEvaluated = from.LastEvaluated;
        state.LastValue = from.LastValue;
        state.AcknowledgedBy = from.AcknowledgedBy;
        state.AcknowledgedAt = from.AcknowledgedAt;
        if (!ruleChanged)
        {
            state.WarnSince = from.WarnSince;
            state.CritSince = from.CritSince;
            state.KeepFiringUntil = from.KeepFiringUntil;
        }
        if (state.Level != AlertLevel.Ok) LevelChanged(index);
    }

    private static readonly TagMatcher[] NoMatchers = [];

    /// <summary>Every setting equal, the tag matchers element by element (the record compares lists by reference).</summary>
    internal static bool SameSettings(ThresholdRule a, ThresholdRule b) =>
        a with { Tags = NoMatchers } == b with { Tags = NoMatchers }
        && (a.Tags ?? NoMatchers).SequenceEqual(b.Tags ?? NoMatchers);
}
