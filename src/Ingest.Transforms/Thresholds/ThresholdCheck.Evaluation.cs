using System.Runtime.CompilerServices;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

public sealed partial class ThresholdCheck
{
    // SkipLocalsInit: the unescape buffer is written before it is read; zeroing it per point is waste.
    [SkipLocalsInit]
    private void EvaluatePoint(SeriesEntry series, ReadOnlySpan<byte> fields, long timestamp, ICollection<AlertEvent> events)
    {
        int[] stateIndices = series.States;
        var found = _found.AsSpan(0, stateIndices.Length);
        var values = _values.AsSpan(0, stateIndices.Length);
        found.Clear();
        bool any = false;
        Span<byte> unescaped = stackalloc byte[256];

        var enumerator = new FieldEnumerator(fields);
        while (enumerator.MoveNext())
        {
            var field = enumerator.Current;
            var key = FieldKey(field.Key, unescaped);
            for (int j = 0; j < stateIndices.Length; j++)
            {
                if (!key.SequenceEqual(_rules[_states[stateIndices[j]].Rule].FieldBytes)) continue;
                // The last occurrence wins, as InfluxDB keeps the last of duplicate field keys.
                found[j] = true;
                values[j] = field.Type == FieldType.String ? double.NaN : field.NumericValue;
                any = true;
            }
        }
        if (!any) return;

        for (int j = 0; j < stateIndices.Length; j++)
        {
            if (!found[j]) continue;
            if (double.IsNaN(values[j]))
            {
                _nonNumeric++;
                continue;
            }
            Evaluate(stateIndices[j], values[j], timestamp, events);
        }
    }

    private void Evaluate(int index, double value, long timestamp, ICollection<AlertEvent> events)
    {
        ref var state = ref _states[index];
        if (timestamp < state.LastEvaluated)
        {
            _outOfOrder++;
            return;
        }
        _evaluations++;
        var rule = _rules[state.Rule];
        bool changed = AlertStateMachine.Evaluate(rule, ref state, value, timestamp, out var previous);
        MarkDirty(index);
        long deadline = AlertStateMachine.NoDataDeadline(rule, state);
        if (deadline < _nextDeadline) _nextDeadline = deadline;
        if (!changed) return;

        var series = _seriesList[state.Series];
        _transitions++;
        LevelChanged(index);
        events.Add(new AlertEvent(_alertIds[index], rule.Name, series.Database, series.KeyText, series.Measurement, series.Tags,
            rule.Rule.Field, previous, state.Level, AlertReason.Threshold, value, timestamp,
            AlertMessages.Transition(rule, series, previous, state.Level, value)) { RetentionPolicy = series.RetentionPolicy });
    }

    /// <summary>
    /// Field keys are compared unescaped; escapes are rare, so the copy is too. An escaped key longer than the
    /// buffer is compared as it is, and so matches only a rule field written with the same escapes.
    /// </summary>
    private static ReadOnlySpan<byte> FieldKey(ReadOnlySpan<byte> key, Span<byte> buffer)
    {
        if (key.IndexOf((byte)'\\') < 0) return key;
        if (key.Length > buffer.Length) return key;
        int n = Escaping.Unescape(key, EscapeKind.Key, buffer);
        return buffer.Slice(0, n);
    }
}
