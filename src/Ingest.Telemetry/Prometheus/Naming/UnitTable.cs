namespace Ingest.Telemetry.Prometheus.Naming;

/// <summary>A unit spelled in an instrument's Unit or at the end of its name, and what it becomes in Prometheus.</summary>
internal readonly record struct UnitInfo(string BaseWord, UnitScale Scale);

internal static class UnitTable
{
    private static readonly Dictionary<string, UnitInfo> Declared = BuildDeclared();
    private static readonly Dictionary<string, UnitInfo> NameTokens = BuildNameTokens();

    // What promtool's unit lint treats as a unit word, with the base unit it wants instead.
    private static readonly Dictionary<string, string> LintUnits = new(StringComparer.Ordinal)
    {
        ["amperes"] = "amperes", ["bytes"] = "bytes", ["celsius"] = "celsius", ["grams"] = "grams",
        ["joules"] = "joules", ["kelvin"] = "kelvin", ["meters"] = "meters", ["metres"] = "metres",
        ["seconds"] = "seconds", ["volts"] = "volts",
        ["minutes"] = "seconds", ["hours"] = "seconds", ["days"] = "seconds", ["weeks"] = "seconds",
        ["kelvins"] = "kelvin", ["fahrenheit"] = "celsius", ["rankine"] = "celsius",
        ["inches"] = "meters", ["yards"] = "meters", ["miles"] = "meters", ["bits"] = "bytes",
        ["calories"] = "joules", ["pounds"] = "grams", ["ounces"] = "grams",
    };

    private static readonly string[] LintPrefixes =
    [
        "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi",
        "mega", "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
    ];

    private static readonly HashSet<string> LintAbbreviations = new(StringComparer.Ordinal)
    {
        "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
    };

    /// <summary>Looks up an instrument's declared unit (UCUM spellings such as "ms", "By", "KiBy", plus plain English words).</summary>
    public static bool TryDeclared(string unit, out UnitInfo info) => Declared.TryGetValue(unit, out info);

    /// <summary>Looks up a lower-case name token that unambiguously names a convertible unit ("ms", "kilobytes"…).</summary>
    public static bool TryNameToken(string token, out UnitInfo info) => NameTokens.TryGetValue(token, out info);

    /// <summary>
    /// True when promtool would flag this name token: an abbreviated unit, a non-base unit word, or an
    /// SI/IEC-prefixed unit word.
    /// </summary>
    public static bool IsLintUnitProblem(string token)
    {
        if (LintAbbreviations.Contains(token)) return true;
        if (LintUnits.TryGetValue(token, out var baseUnit)) return baseUnit != token;
        foreach (var prefix in LintPrefixes)
        {
            if (token.Length > prefix.Length && token.StartsWith(prefix, StringComparison.Ordinal)
                && LintUnits.ContainsKey(token[prefix.Length..]))
                return true;
        }
        return false;
    }

    private static void Add(Dictionary<string, UnitInfo> map, string baseWord, UnitScale scale, params string[] spellings)
    {
        foreach (var s in spellings) map[s] = new UnitInfo(baseWord, scale);
    }

    private static Dictionary<string, UnitInfo> BuildDeclared()
    {
        var m = new Dictionary<string, UnitInfo>(StringComparer.Ordinal);
        AddTime(m, includeAbbreviations: true);
        Add(m, "bytes", UnitScale.Identity, "By", "byte", "bytes");
        Add(m, "bytes", UnitScale.Times(1e3), "kBy", "KBy", "kB", "KB", "kilobyte", "kilobytes");
        Add(m, "bytes", UnitScale.Times(1e6), "MBy", "MB", "megabyte", "megabytes");
        Add(m, "bytes", UnitScale.Times(1e9), "GBy", "GB", "gigabyte", "gigabytes");
        Add(m, "bytes", UnitScale.Times(1e12), "TBy", "TB", "terabyte", "terabytes");
        Add(m, "bytes", UnitScale.Times(1024), "KiBy", "KiB", "kibibyte", "kibibytes");
        Add(m, "bytes", UnitScale.Times(1024 * 1024), "MiBy", "MiB", "mebibyte", "mebibytes");
        Add(m, "bytes", UnitScale.Times(1024 * 1024 * 1024), "GiBy", "GiB", "gibibyte", "gibibytes");
        Add(m, "bytes", UnitScale.Over(8), "bit", "bits");
        Add(m, "percent", UnitScale.Identity, "%");
        Add(m, "celsius", UnitScale.Identity, "Cel");
        Add(m, "volts", UnitScale.Identity, "V");
        Add(m, "amperes", UnitScale.Identity, "A");
        Add(m, "joules", UnitScale.Identity, "J");
        Add(m, "grams", UnitScale.Identity, "g");
        Add(m, "meters", UnitScale.Identity, "m");
        Add(m, "hertz", UnitScale.Identity, "Hz");
        return m;
    }

    private static Dictionary<string, UnitInfo> BuildNameTokens()
    {
        // "m" (minutes or metres?) is deliberately absent: an ambiguous token is dropped, never converted.
        var m = new Dictionary<string, UnitInfo>(StringComparer.Ordinal);
        AddTime(m, includeAbbreviations: false);
        Add(m, "seconds", UnitScale.Identity, "s", "sec");
        Add(m, "seconds", UnitScale.Over(1e3), "ms");
        Add(m, "seconds", UnitScale.Over(1e6), "us");
        Add(m, "seconds", UnitScale.Over(1e9), "ns");
        Add(m, "seconds", UnitScale.Times(3600), "h");
        Add(m, "seconds", UnitScale.Times(86400), "d");
        Add(m, "seconds", UnitScale.Times(604800), "weeks");
        Add(m, "bytes", UnitScale.Identity, "b");
        Add(m, "bytes", UnitScale.Times(1e3), "kb", "kilobytes");
        Add(m, "bytes", UnitScale.Times(1e6), "mb", "megabytes");
        Add(m, "bytes", UnitScale.Times(1e9), "gb", "gigabytes");
        Add(m, "bytes", UnitScale.Times(1e12), "tb", "terabytes");
        Add(m, "bytes", UnitScale.Times(1e15), "pb", "petabytes");
        Add(m, "bytes", UnitScale.Times(1024), "kibibytes");
        Add(m, "bytes", UnitScale.Times(1024 * 1024), "mebibytes", "mibibytes");
        Add(m, "bytes", UnitScale.Times(1024 * 1024 * 1024), "gibibytes");
        Add(m, "bytes", UnitScale.Over(8), "bits");
        return m;
    }

    private static void AddTime(Dictionary<string, UnitInfo> m, bool includeAbbreviations)
    {
        if (includeAbbreviations)
        {
            Add(m, "seconds", UnitScale.Identity, "s", "sec");
            Add(m, "seconds", UnitScale.Over(1e3), "ms", "msec");
            Add(m, "seconds", UnitScale.Over(1e6), "us", "\u00b5s", "usec");
            Add(m, "seconds", UnitScale.Over(1e9), "ns", "nsec");
            Add(m, "seconds", UnitScale.Times(60), "min");
            Add(m, "seconds", UnitScale.Times(3600), "h");
            Add(m, "seconds", UnitScale.Times(86400), "d");
        }
        Add(m, "seconds", UnitScale.Identity, "second", "seconds");
        Add(m, "seconds", UnitScale.Over(1e3), "millisecond", "milliseconds");
        Add(m, "seconds", UnitScale.Over(1e6), "microsecond", "microseconds");
        Add(m, "seconds", UnitScale.Over(1e9), "nanosecond", "nanoseconds");
        Add(m, "seconds", UnitScale.Times(60), "minute", "minutes");
        Add(m, "seconds", UnitScale.Times(3600), "hour", "hours");
        Add(m, "seconds", UnitScale.Times(86400), "day", "days");
    }
}
