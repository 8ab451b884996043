using System.Globalization;
using System.Text.RegularExpressions;

namespace Ingest.Telemetry.Tests.Prometheus;

/// <summary>
/// An independent reader of the 0.0.4 text format that reports what promtool 2.42 checks and also what it
/// lets through (grouping, duplicates, histogram +Inf / cumulative / _count rules), written from the format
/// spec rather than from the exporter's code so the two can disagree.
/// </summary>
internal static partial class ExpositionChecker
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    private static readonly string[] Abbreviations = ["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"];

    private static readonly string[] NonBaseUnitWords =
        ["minutes", "hours", "days", "weeks", "milliseconds", "microseconds", "nanoseconds", "kilobytes", "megabytes", "gigabytes", "bits"];

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricNameRegex();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelNameRegex();

    [GeneratedRegex("[a-z][A-Z]")]
    private static partial Regex CamelCaseRegex();

    private sealed class Family
    {
        public string? Type;
        public bool Help;
        public bool HasSamples;
        public readonly Dictionary<string, List<(double Le, double Count)>> Buckets = [];
        public readonly Dictionary<string, double> Counts = [];
        public readonly HashSet<string> Sums = [];
    }

    public static List<string> Check(string text)
    {
        var problems = new List<string>();
        if (text.Length > 0 && !text.EndsWith('\n')) problems.Add("last line does not end with a line feed");
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        int lineNo = 0;

        void Enter(string family)
        {
            if (family == current) return;
            if (closed.Contains(family)) problems.Add($"family {family} is not one group");
            if (current is not null) closed.Add(current);
            current = family;
        }

        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            string line = raw.Trim(' ', '\t');
            if (line.Length == 0) continue;
            if (line.StartsWith('#'))
            {
                var parts = line[1..].TrimStart(' ', '\t').Split([' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 2 || (parts[0] != "HELP" && parts[0] != "TYPE")) continue;
                string name = parts[1];
                if (!MetricNameRegex().IsMatch(name)) { problems.Add($"line {lineNo}: invalid metric name {name}"); continue; }
                var fam = Get(families, name);
                Enter(name);
                if (parts[0] == "HELP")
                {
                    if (fam.Help) problems.Add($"line {lineNo}: second HELP for {name}");
                    if (fam.HasSamples) problems.Add($"line {lineNo}: HELP for {name} after its samples");
                    fam.Help = true;
                    CheckHelpEscapes(parts.Length > 2 ? parts[2] : string.Empty, lineNo, problems);
                }
                else
                {
                    string type = parts.Length > 2 ? parts[2].Trim() : string.Empty;
                    if (!Types.Contains(type)) problems.Add($"line {lineNo}: unknown type {type}");
                    if (fam.Type is not null || fam.HasSamples) problems.Add($"line {lineNo}: second TYPE or TYPE after samples for {name}");
                    fam.Type = type;
                }
                continue;
            }
            CheckSample(line, lineNo, families, series, Enter, problems);
        }

        foreach (var (name, fam) in families) CheckFamily(name, fam, problems);
        return problems;
    }

    private static Family Get(Dictionary<string, Family> families, string name)
    {
        if (!families.TryGetValue(name, out var f)) families[name] = f = new Family();
        return f;
    }

    private static void CheckHelpEscapes(string help, int lineNo, List<string> problems)
    {
        for (int i = 0; i < help.Length; i++)
        {
            if (help[i] != '\\') continue;
            if (i + 1 >= help.Length || (help[i + 1] != '\\' && help[i + 1] != 'n'))
                problems.Add($"line {lineNo}: invalid escape in HELP");
            i++;
        }
    }

    private static void CheckSample(string line, int lineNo, Dictionary<string, Family> families, HashSet<string> series,
        Action<string> enter, List<string> problems)
    {
        int i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ' && line[i] != '\t') i++;
        string name = line[..i];
        if (!MetricNameRegex().IsMatch(name)) { problems.Add($"line {lineNo}: invalid metric name {name}"); return; }
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            if (!ParseLabels(line, ref i, labels, out string? error)) { problems.Add($"line {lineNo}: {error}"); return; }
        }
        var rest = line[i..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2) { problems.Add($"line {lineNo}: expected value [timestamp]"); return; }
        if (!TryParseValue(rest[0], out double value)) { problems.Add($"line {lineNo}: bad value {rest[0]}"); return; }
        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            problems.Add($"line {lineNo}: bad timestamp {rest[1]}");

        string family = FamilyOf(name, families, out string suffix);
        enter(family);
        var fam = Get(families, family);
        fam.HasSamples = true;
        string key = name + "{" + string.Join(",", labels.Select(kv => $"{kv.Key}={kv.Value}")) + "}";
        if (!series.Add(key)) problems.Add($"line {lineNo}: duplicate series {key}");

        if (fam.Type is "histogram" or "summary")
        {
            labels.Remove(fam.Type == "histogram" ? "le" : "quantile", out string? bound);
            string group = string.Join(",", labels.Select(kv => $"{kv.Key}={kv.Value}"));
            if (suffix == "_bucket" && fam.Type == "histogram")
            {
                if (bound is null || !TryParseValue(bound, out double le)) { problems.Add($"line {lineNo}: bucket without float le"); return; }
                if (!fam.Buckets.TryGetValue(group, out var list)) fam.Buckets[group] = list = [];
                list.Add((le, value));
            }
            else if (suffix == "_count") fam.Counts[group] = value;
            else if (suffix == "_sum") fam.Sums.Add(group);
        }
        else if (labels.ContainsKey("le")) problems.Add($"{family} non-histogram metrics should not have \"le\" label");
    }

    private static string FamilyOf(string name, Dictionary<string, Family> families, out string suffix)
    {
        foreach (var s in new[] { "_bucket", "_sum", "_count" })
        {
            if (!name.EndsWith(s, StringComparison.Ordinal)) continue;
            string stem = name[..^s.Length];
            if (families.TryGetValue(stem, out var f) && f.Type is "histogram" or "summary" && (s != "_bucket" || f.Type == "histogram"))
            {
                suffix = s;
                return stem;
            }
        }
        suffix = string.Empty;
        return name;
    }

    private static bool ParseLabels(string line, ref int i, IDictionary<string, string> labels, out string? error)
    {
        i++; // '{'
        while (true)
        {
            while (i < line.Length && (line[i] == ' ' || line[i] == '\t')) i++;
            if (i < line.Length && line[i] == '}') { i++; error = null; return true; }
            int start = i;
            while (i < line.Length && line[i] != '=' && line[i] != ' ') i++;
            string labelName = line[start..i];
            if (!LabelNameRegex().IsMatch(labelName)) { error = $"invalid label name {labelName}"; return false; }
            if (labelName.StartsWith("__", StringComparison.Ordinal)) { error = $"reserved label name {labelName}"; return false; }
            if (i >= line.Length || line[i] != '=') { error = "expected ="; return false; }
            i++;
            if (i >= line.Length || line[i] != '"') { error = "label value not quoted"; return false; }
            i++;
            var value = new System.Text.StringBuilder();
            while (true)
            {
                if (i >= line.Length) { error = "unterminated label value"; return false; }
                char c = line[i++];
                if (c == '"') break;
                if (c == '\\')
                {
                    if (i >= line.Length) { error = "dangling escape"; return false; }
                    char e = line[i++];
                    if (e == 'n') value.Append('\n');
                    else if (e is '\\' or '"') value.Append(e);
                    else { error = $"invalid escape \\{e}"; return false; }
                }
                else value.Append(c);
            }
            if (labels.ContainsKey(labelName)) { error = $"duplicate label {labelName}"; return false; }
            labels[labelName] = value.ToString();
            if (i < line.Length && line[i] == ',') i++;
            else if (i >= line.Length || line[i] != '}') { error = "expected , or }"; return false; }
        }
    }

    private static bool TryParseValue(string s, out double value)
    {
        switch (s)
        {
            case "NaN": value = double.NaN; return true;
            case "+Inf": value = double.PositiveInfinity; return true;
            case "-Inf": value = double.NegativeInfinity; return true;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static void CheckFamily(string name, Family fam, List<string> problems)
    {
        if (!fam.HasSamples) return;
        if (fam.Type is not null && !fam.Help) problems.Add($"{name} no help text");
        if (CamelCaseRegex().IsMatch(name)) problems.Add($"{name} camelCase");
        if (name.Contains(':')) problems.Add($"{name} contains ':'");
        var tokens = name.Split('_');
        foreach (var t in tokens.Skip(1))
        {
            if (Abbreviations.Contains(t)) problems.Add($"{name} abbreviated unit {t}");
            if (NonBaseUnitWords.Contains(t)) problems.Add($"{name} non-base unit {t}");
            if (Types.Contains(t)) problems.Add($"{name} includes type {t}");
        }
        bool counter = fam.Type == "counter";
        if (counter && !name.EndsWith("_total", StringComparison.Ordinal)) problems.Add($"{name} counter without _total");
        if (fam.Type is "gauge" or "histogram" or "summary" && name.EndsWith("_total", StringComparison.Ordinal))
            problems.Add($"{name} non-counter with _total");
        if (fam.Type is "gauge" or "counter" && (name.EndsWith("_count") || name.EndsWith("_sum") || name.EndsWith("_bucket")))
            problems.Add($"{name} reserved suffix on {fam.Type}");
        if (fam.Type != "histogram") return;
        foreach (var (group, buckets) in fam.Buckets)
        {
            for (int i = 1; i < buckets.Count; i++)
            {
                if (!(buckets[i].Le > buckets[i - 1].Le)) problems.Add($"{name}{{{group}}} le not ascending at {buckets[i].Le}");
                if (buckets[i].Count < buckets[i - 1].Count) problems.Add($"{name}{{{group}}} buckets not cumulative at le={buckets[i].Le}");
            }
            if (buckets.Any(b => b.Count < 0)) problems.Add($"{name}{{{group}}} negative bucket");
            if (!double.IsPositiveInfinity(buckets[^1].Le)) { problems.Add($"{name}{{{group}}} has no le=\"+Inf\" bucket"); continue; }
            if (!fam.Counts.TryGetValue(group, out double count)) problems.Add($"{name}{{{group}}} has no _count");
            else if (count != buckets[^1].Count) problems.Add($"{name}{{{group}}} +Inf bucket {buckets[^1].Count} != _count {count}");
            if (!fam.Sums.Contains(group)) problems.Add($"{name}{{{group}}} has no _sum");
        }
    }
}
