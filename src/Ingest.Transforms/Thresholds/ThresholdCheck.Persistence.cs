using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

public sealed partial class ThresholdCheck
{
    private readonly List<int> _dirty = new();

    private void MarkDirty(int index)
    {
        ref var state = ref _states[index];
        if (state.Dirty) return;
        state.Dirty = true;
        _dirty.Add(index);
    }

    /// <summary>
    /// Adds the states changed since the last call (any evaluated point changes one) to <paramref name="into"/>
    /// and forgets them: call it on a timer to coalesce writes. Returns how many were added.
    /// </summary>
    public int TakeDirty(ICollection<AlertStateRecord> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        foreach (int index in _dirty)
        {
            _states[index].Dirty = false;
            into.Add(ToRecord(index));
        }
        int count = _dirty.Count;
        _dirty.Clear();
        return count;
    }

    /// <summary>Every state that has seen a value or is not OK, and the watermark. Clears nothing.</summary>
    public ThresholdSnapshot Export()
    {
        var records = new List<AlertStateRecord>();
        for (int i = 0; i < _stateCount; i++)
        {
            ref readonly var state = ref _states[i];
            if (state.LastEvaluated == AlertState.NoTime && state.Level == AlertLevel.Ok) continue;
            records.Add(ToRecord(i));
        }
        return new ThresholdSnapshot(ThresholdSnapshot.CurrentVersion, _watermark, records);
    }

    /// <summary>Restores a snapshot (normally into a new engine, before the first batch).</summary>
    public ImportResult Import(ThresholdSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return Import(snapshot.States, snapshot.Watermark);
    }

    /// <summary>
    /// Restores states kept one per alert id. Records of rules no longer configured, or of series the rule no
    /// longer matches, are skipped; a record replaces whatever the engine held for its rule and series.
    /// </summary>
    public ImportResult Import(IEnumerable<AlertStateRecord> records, long watermark)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (watermark > _watermark) _watermark = watermark;
        int restored = 0, skipped = 0;
        foreach (var record in records)
        {
            if (record is null || !TryRestore(record)) skipped++;
            else restored++;
        }
        // Deadlines moved arbitrarily; the next point rescans and finds the true minimum.
        _nextDeadline = long.MinValue;
        _activeChanged = true;
        return new ImportResult(restored, skipped);
    }

    private bool TryRestore(AlertStateRecord record)
    {
        if (!_rulesByName.TryGetValue(record.Rule, out var rule) || string.IsNullOrEmpty(record.SeriesKey)) return false;
        if (!Enum.IsDefined(record.Level)) return false;
        var key = Encoding.UTF8.GetBytes(record.SeriesKey);
        SeriesEntry? series;
        try
        {
            series = FindSeries(key, SeriesKeyHash.Compute(key), record.Database ?? "");
        }
        catch (FormatException)
        {
            return false;
        }
        if (series is null) return false;
        foreach (int index in series.States)
        {
            ref var state = ref _states[index];
            if (state.Rule != rule.Index) continue;
            state.Level = record.Level;
            state.LevelSince = record.LevelSince ?? AlertState.NoTime;
            state.LastEvaluated = record.LastEvaluated ?? AlertState.NoTime;
            state.LastValue = record.LastValue ?? double.NaN;
            state.WarnSince = record.WarnSince ?? AlertState.NoTime;
            state.CritSince = record.CritSince ?? AlertState.NoTime;
            
            state.KeepFiringUntil = record.KeepFiringUntil ?? AlertState.NoTime;
            state.AcknowledgedBy = record.AcknowledgedBy;
            state.AcknowledgedAt = record.AcknowledgedAt ?? AlertState.NoTime;
            LevelChanged(index);
            return true;
        }
        return false;
    }

    private AlertStateRecord ToRecord(int index)
    {
        ref readonly var s = ref _states[index];
        return new AlertStateRecord(
            _rules[s.Rule].Name, _seriesList[s.Series].Database, _seriesList[s.Series].KeyText, s.Level,
            Time(s.LevelSince), Time(s.LastEvaluated), double.IsNaN(s.LastValue) ? null : s.LastValue,
            Time(s.WarnSince), Time(s.CritSince), Time(s.KeepFiringUntil),
            s.AcknowledgedBy, s.AcknowledgedBy is null ? null : Time(s.AcknowledgedAt));
    }

    private static long? Time(long value) => value == AlertState.NoTime ? null : value;
}
