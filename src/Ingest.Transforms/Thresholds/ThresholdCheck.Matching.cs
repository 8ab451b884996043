using System.Runtime.CompilerServices;
using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

public sealed partial class ThresholdCheck
{
    // Rules by the hash of their unescaped measurement; an array per hash because names may collide.
    private readonly Dictionary<ulong, MeasurementRules[]> _rulesByMeasurement = new();
    private readonly Dictionary<ulong, SeriesEntry> _seriesByHash = new();
    private readonly List<SeriesEntry> _seriesList = new();
    private int _seriesCount;

    private sealed record MeasurementRules(byte[] Measurement, int[] Rules);

    private void IndexMeasurements()
    {
        foreach (var group in _rules.GroupBy(r => r.Rule.Measurement, StringComparer.Ordinal))
        {
            var bytes = group.First().MeasurementBytes;
            var entry = new MeasurementRules(bytes, group.Select(r => r.Index).ToArray());
            ulong hash = SeriesKeyHash.Compute(bytes);
            _rulesByMeasurement[hash] = _rulesByMeasurement.TryGetValue(hash, out var same) ? [.. same, entry] : [entry];
        }
    }

    /// <summary>
    /// The known series for <paramref name="key"/> in <paramref name="database"/>, or a new one if its measurement
    /// has rules; null when no rule can apply or the engine is full. Only the first point of a series allocates.
    /// The same key in another database is another entry on the same hash chain (the chain is as long as the
    /// number of databases that series is written to).
    /// </summary>
    private SeriesEntry? FindSeries(ReadOnlySpan<byte> key, ulong hash, string database)
    {
        if (_seriesByHash.TryGetValue(hash, out var entry))
        {
            for (var e = entry; e is not null; e = e.NextSameHash)
                if (key.SequenceEqual(e.Key) && string.Equals(e.Database, database, StringComparison.Ordinal)) return e;
        }
        var rules = RulesFor(key);
        if (rules is null) return null;
        if (_seriesCount >= _options.MaxSeries)
        {
            _overCapacity++;
            return null;
        }
        return AddSeries(key, hash, database, rules);
    }

    [SkipLocalsInit]
    private int[]? RulesFor(ReadOnlySpan<byte> seriesKey)
    {
        var measurement = seriesKey.Slice(0, Escaping.MeasurementLength(seriesKey));
        if (measurement.IndexOf((byte)'\\') < 0) return RulesForUnescaped(measurement);
        if (measurement.Length > 256) return RulesForLongEscaped(measurement);
        Span<byte> buffer = stackalloc byte[256];
        int length = Escaping.Unescape(measurement, EscapeKind.Measurement, buffer);
        return RulesForUnescaped(buffer.Slice(0, length));
    }

    private int[]? RulesForUnescaped(ReadOnlySpan<byte> measurement)
    {
        if (!_rulesByMeasurement.TryGetValue(SeriesKeyHash.Compute(measurement), out var groups)) return null;
        foreach (var group in groups)
            if (measurement.SequenceEqual(group.Measurement)) return group.Rules;
        return null;
    }

    private int[]? RulesForLongEscaped(ReadOnlySpan<byte> measurement) =>
        RulesForUnescaped(Encoding.UTF8.GetBytes(Escaping.Unescape(measurement, EscapeKind.Measurement)));


    private SeriesEntry AddSeries(ReadOnlySpan<byte> key, ulong hash, string database, int[] candidateRules) =>
        AddSeries(NewSeries(key.ToArray(), hash, database), candidateRules);

    /// <summary>Registers a series not yet known, with a state for each of <paramref name="candidateRules"/> its tags satisfy.</summary>
    private SeriesEntry AddSeries(SeriesEntry series, int[] candidateRules)
    {
        ulong hash = series.Hash;
        string database = series.Database;
        var states = new List<int>(candidateRules.Length);
        foreach (int r in candidateRules)
            if (_rules[r].Matches(series.Tags)) states.Add(AddState(r, _seriesList.Count, database, series.KeyText));
        series.States = states.ToArray();

        if (_seriesByHash.TryGetValue(hash, out var first)) series.NextSameHash = first;
        _seriesByHash[hash] = series;
        _seriesList.Add(series);
        _seriesCount++;
        if (series.States.Length > _values.Length)
        {
            _values = new double[series.States.Length];
            _found = new bool[series.States.Length];
        }
        return series;
    }

    private static SeriesEntry NewSeries(byte[] key, ulong hash, string database)
    {
        // The decoder reads whole lines; a dummy field set and timestamp make the key one.
        var line = new byte[key.Length + 6];
        key.CopyTo(line, 0);
        " _=0 0"u8.CopyTo(line.AsSpan(key.Length));
        var decoded = PointDecoder.DecodeCanonical(line);
        return new SeriesEntry(key, hash, database, Encoding.UTF8.GetString(key), decoded.Measurement, decoded.Tags.ToArray());
    }

    private int AddState(int rule, int series, string database, string seriesKey)
    {
        if (_stateCount == _states.Length)
        {
            Array.Resize(ref _states, _states.Length * 2);
            Array.Resize(ref _alertIds, _alertIds.Length * 2);
        }
        int index = _stateCount;
        _states[index] = AlertState.New(rule, series);
        _alertIds[index] = AlertId.Compute(_rules[rule].Name, database, seriesKey);
        _stateIndexById[_alertIds[index]] = index;
        _stateCount++;
        return index;
    }
}
