using System.Globalization;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// Checks rules before the engine compiles them, so that a bad rule stops the daemon at start with the key,
/// the value and the reason, instead of never firing.
/// </summary>
public static class ThresholdRuleValidator
{
    public const string DefaultKeyPrefix = "Thresholds:Rules";

    public static IReadOnlyList<ThresholdRuleError> Validate(IReadOnlyList<ThresholdRule> rules, string keyPrefix = DefaultKeyPrefix)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var errors = new List<ThresholdRuleError>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < rules.Count; i++)
        {
            string key = $"{keyPrefix}:{i}";
            var rule = rules[i];
            if (rule is null)
            {
                errors.Add(new(key, null, "a rule must be set"));
                continue;
            }
            CheckNames(rule, key, errors);
            if (!string.IsNullOrEmpty(rule.Name))
            {
                if (names.TryGetValue(rule.Name, out int first))
                    errors.Add(new($"{key}:Name", rule.Name, $"duplicates the name of {keyPrefix}:{first}"));
                else
                    names.Add(rule.Name, i);
            }
            CheckLevels(rule, key, errors);
            CheckDurations(rule, key, errors);
            CheckTags(rule, key, errors);
        }
        return errors;
    }

    private static void CheckNames(ThresholdRule rule, string key, List<ThresholdRuleError> errors)
    {
        if (string.IsNullOrEmpty(rule.Name)) errors.Add(new($"{key}:Name", rule.Name, "must not be empty"));
        else if (rule.Name.Contains('\n')) errors.Add(new($"{key}:Name", rule.Name, "must not contain a line feed"));
        if (string.IsNullOrEmpty(rule.Measurement)) errors.Add(new($"{key}:Measurement", rule.Measurement, "must not be empty"));
        if (string.IsNullOrEmpty(rule.Field)) errors.Add(new($"{key}:Field", rule.Field, "must not be empty"));
        if (!Enum.IsDefined(rule.Direction))
            errors.Add(new($"{key}:Direction", rule.Direction.ToString(), "must be Above or Below"));
    }

    private static void CheckLevels(ThresholdRule rule, string key, List<ThresholdRuleError> errors)
    {
        if (rule.Warn is null && rule.Crit is null && rule.NoDataTimeout is null)
            errors.Add(new($"{key}:Crit", null, "a rule needs Warn, Crit or NoDataTimeout"));
        bool finite = true;
        finite &= CheckFinite(rule.Warn, $"{key}:Warn", errors);
        finite &= CheckFinite(rule.Crit, $"{key}:Crit", errors);
        finite &= CheckFinite(rule.WarnReset, $"{key}:WarnReset", errors);
        finite &= CheckFinite(rule.CritReset, $"{key}:CritReset", errors);
        if (!finite) return;

        bool above = rule.Direction == ThresholdDirection.Above;
        string side = above ? "below" : "above";
        string kind = above ? "an 'Above'" : "a 'Below'";
        if (rule.Warn is double warn && rule.Crit is double crit && (above ? warn >= crit : warn <= crit))
            errors.Add(new($"{key}:Warn", Text(warn), $"must be {side} Crit ({Text(crit)}) for {kind} rule"));
        CheckReset(rule.WarnReset, rule.Warn, "Warn", key, above, errors);
        CheckReset(rule.CritReset, rule.Crit, "Crit", key, above, errors);
    }

    private static void CheckReset(double? reset, double? level, string name, string key, bool above, List<ThresholdRuleError> errors)
    {
        if (reset is not double r) return;
        if (level is not double l)
        {
            errors.Add(new($"{key}:{name}Reset", Text(r), $"needs {name} to be set"));
            return;
        }
        // A reset beyond its level would release the alert while the value still breaches the level.
        if (above ? r > l : r < l)
            errors.Add(new($"{key}:{name}Reset", Text(r),
                $"must be at or {(above ? "below" : "above")} {name} ({Text(l)}) for {(above ? "an 'Above'" : "a 'Below'")} rule"));
    }

    private static bool CheckFinite(double? value, string key, List<ThresholdRuleError> errors)
    {
        if (value is not double v || double.IsFinite(v)) return true;
        errors.Add(new(key, Text(v), "must be a finite number"));
        return false;
    }

    private static void CheckDurations(ThresholdRule rule, string key, List<ThresholdRuleError> errors)
    {
        if (rule.For < TimeSpan.Zero) errors.Add(new($"{key}:For", rule.For.ToString("c"), "must not be negative"));
        if (rule.KeepFiringFor < TimeSpan.Zero)
            errors.Add(new($"{key}:KeepFiringFor", rule.KeepFiringFor.ToString("c"), "must not be negative"));
        if (rule.NoDataTimeout is TimeSpan t && t <= TimeSpan.Zero)
            errors.Add(new($"{key}:NoDataTimeout", t.ToString("c"), "must be positive (leave it out to disable)"));
    }

    private static void CheckTags(ThresholdRule rule, string key, List<ThresholdRuleError> errors)
    {
        if (rule.Tags is null)
        {
            errors.Add(new($"{key}:Tags", null, "must be a list (empty for none)"));
            return;
        }
        for (int t = 0; t < rule.Tags.Count; t++)
        {
            var matcher = rule.Tags[t];
            string tagKey = $"{key}:Tags:{t}";
            if (matcher is null) errors.Add(new(tagKey, null, "a tag matcher must be set"));
            else if (string.IsNullOrEmpty(matcher.Key)) errors.Add(new($"{tagKey}:Key", matcher.Key, "must not be empty"));
            else if (string.IsNullOrEmpty(matcher.Pattern))
                errors.Add(new($"{tagKey}:Pattern", matcher.Pattern, "must not be empty (tag values never are)"));
        }
    }

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
}
