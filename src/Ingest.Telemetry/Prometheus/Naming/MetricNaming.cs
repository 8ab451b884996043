namespace Ingest.Telemetry.Prometheus.Naming;

/// <summary>
/// Maps an instrument name and unit to a Prometheus family name that passes <c>promtool check metrics</c>.
/// Steps, in order (each one is needed by a later one, so the order is part of the contract):
/// <list type="number">
/// <item>Split into lower-case snake_case tokens (<see cref="NameTokens.Split"/>) and drop type words
///   (counter, gauge, histogram, summary, untyped), which promtool rejects in names.</item>
/// <item>Counters: drop trailing "total" tokens; "_total" is re-added last, so it never appears twice.</item>
/// <item>Unit: the declared unit gives a base word and a scale ("ms" → seconds ÷1000, "By" → bytes, "KiBy" → bytes ×1024);
///   "{…}" annotations add nothing; "1" adds "ratio" on gauges only. With no declared unit, a trailing name token
///   that unambiguously names a unit ("latency_ms", "size_kilobytes") is taken as the unit.</item>
/// <item>Trailing tokens that already spell the unit are removed so the suffix is not doubled.</item>
/// <item>Unit tokens promtool rejects are dropped wherever they remain: abbreviated units (s, ms, b, kb, m, h, d…) and
///   non-base or prefixed unit words (minutes, kilobytes, millivolts…).</item>
/// <item>The base-unit word is appended unless the name already ends with it.</item>
/// <item>Counters get "_total". Other types ending in "_total", "_count", "_sum" or "_bucket" get "_value"
///   ("dotnet_timer_count" → "dotnet_timer_count_value"), because those suffixes are reserved for counter and histogram samples.</item>
/// <item>A leading digit gets a "_" prefix; an empty result becomes "value".</item>
/// </list>
/// </summary>
internal static class MetricNaming
{
    private static readonly HashSet<string> TypeWords = new(StringComparer.Ordinal)
    {
        "counter", "gauge", "histogram", "summary", "untyped",
    };

    private static readonly HashSet<string> ReservedSuffixes = new(StringComparer.Ordinal)
    {
        "total", "count", "sum", "bucket",
    };

    public static MetricName Create(string instrumentName, string? unit, PrometheusType type, bool isOtelGauge)
    {
        var tokens = NameTokens.Split(instrumentName);
        tokens.RemoveAll(TypeWords.Contains);
        if (type == PrometheusType.Counter)
        {
            while (tokens.Count > 0 && tokens[^1] == "total") tokens.RemoveAt(tokens.Count - 1);
        }

        var unitTokens = new List<string>();
        var scale = UnitScale.Identity;
        string? trimmedUnit = StripAnnotations(unit);
        if (trimmedUnit is null)
        {
            if (tokens.Count > 1 && UnitTable.TryNameToken(tokens[^1], out var inferred))
            {
                tokens.RemoveAt(tokens.Count - 1);
                unitTokens.Add(inferred.BaseWord);
                scale = inferred.Scale;
            }
        }
        else if (trimmedUnit == "1")
        {
            if (isOtelGauge) unitTokens.Add("ratio");
        }
        else
        {
            scale = ParseUnit(trimmedUnit, unitTokens);
            RemoveUnitSpelling(tokens, trimmedUnit, unitTokens);
        }

        tokens.RemoveAll(UnitTable.IsLintUnitProblem);
        unitTokens.RemoveAll(UnitTable.IsLintUnitProblem);
        if (!NameTokens.EndsWith(tokens, unitTokens)) tokens.AddRange(unitTokens);
        if (tokens.Count == 0) tokens.Add("value");

        if (type == PrometheusType.Counter) tokens.Add("total");
        else if (ReservedSuffixes.Contains(tokens[^1])) tokens.Add("value");

        string name = string.Join('_', tokens);
        if (char.IsAsciiDigit(name[0])) name = "_" + name;
        return new MetricName(name, type, scale);
    }

    /// <summary>Removes "{…}" annotations (UCUM curly braces); null when nothing is left.</summary>
    private static string? StripAnnotations(string? unit)
    {
        if (string.IsNullOrWhiteSpace(unit)) return null;
        if (!unit.Contains('{')) return unit.Trim();
        var sb = new System.Text.StringBuilder(unit.Length);
        int depth = 0;
        foreach (char c in unit)
        {
            if (c == '{') depth++;
            else if (c == '}') depth = Math.Max(0, depth - 1);
            else if (depth == 0) sb.Append(c);
        }
        string rest = sb.ToString().Trim();
        // "{request}/s" leaves "/s": a rate with no numerator unit.
        if (rest.StartsWith('/')) rest = "1" + rest;
        return rest.Length == 0 || rest == "1" ? null : rest;
    }

    private static UnitScale ParseUnit(string unit, List<string> unitTokens)
    {
        if (UnitTable.TryDeclared(unit, out var info))
        {
            unitTokens.Add(info.BaseWord);
            return info.Scale;
        }
        int slash = unit.IndexOf('/');
        if (slash > 0)
        {
            string numerator = unit[..slash], denominator = unit[(slash + 1)..];
            if (numerator != "1") unitTokens.AddRange(UnitWords(numerator));
            unitTokens.Add("per");
            unitTokens.AddRange(denominator switch
            {
                "s" => ["second"],
                "min" => ["minute"],
                "h" => ["hour"],
                "d" => ["day"],
                _ => UnitWords(denominator),
            });
            return UnitScale.Identity;
        }
        unitTokens.AddRange(NameTokens.Split(unit));
        return UnitScale.Identity;
    }

    private static IEnumerable<string> UnitWords(string unit) =>
        UnitTable.TryDeclared(unit, out var info) ? [info.BaseWord] : NameTokens.Split(unit);

    /// <summary>
    /// "request.duration.ms" with unit "ms" must become "request_duration_seconds", not "…_ms_seconds":
    /// drop trailing tokens that spell the declared unit, its base word or any other spelling of the same unit.
    /// </summary>
    private static void RemoveUnitSpelling(List<string> tokens, string declaredUnit, List<string> unitTokens)
    {
        if (NameTokens.EndsWith(tokens, unitTokens) && tokens.Count > unitTokens.Count)
        {
            tokens.RemoveRange(tokens.Count - unitTokens.Count, unitTokens.Count);
            return;
        }
        if (tokens.Count < 2) return;
        string last = tokens[^1];
        bool spellsUnit = string.Equals(last, declaredUnit, StringComparison.OrdinalIgnoreCase)
            || (UnitTable.TryDeclared(declaredUnit, out var declared)
                && UnitTable.TryNameToken(last, out var named)
                && declared == named);
        if (spellsUnit) tokens.RemoveAt(tokens.Count - 1);
    }
}
