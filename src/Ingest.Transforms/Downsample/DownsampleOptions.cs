namespace Ingest.Transforms.Downsample;

/// <summary>The downsampling tiers. Plain data: the host maps its configuration onto it and calls <see cref="Validate"/>.</summary>
public sealed record DownsampleOptions
{
    /// <summary>At most this many tiers: each adds work to every point.</summary>
    public const int MaxTiers = 16;

    public IReadOnlyList<DownsampleTier> Tiers { get; init; } = [];

    /// <summary>
    /// Every problem found, each naming the tier index and property the way configuration keys do
    /// (<c>Tiers:0:Interval = '00:00:00': must be positive</c>); empty when the options are usable.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Tiers is null) { errors.Add("Tiers = 'null': must be a list (it may be empty)"); return errors; }
        if (Tiers.Count > MaxTiers) errors.Add($"Tiers = '{Tiers.Count} tiers': at most {MaxTiers} are allowed");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Tiers.Count; i++)
        {
            var tier = Tiers[i];
            string at = $"Tiers:{i}";
            if (tier is null) { errors.Add($"{at} = 'null': a tier is required"); continue; }
            ValidateName(tier, at, i, seen, errors);
            if (tier.Interval <= TimeSpan.Zero) errors.Add($"{at}:Interval = '{tier.Interval}': must be positive");
            if (tier.AllowedLateness < TimeSpan.Zero) errors.Add($"{at}:AllowedLateness = '{tier.AllowedLateness}': must not be negative");
            ValidatePatterns(tier.Measurements, $"{at}:Measurements", errors);
            ValidatePatterns(tier.Fields, $"{at}:Fields", errors);
            ValidateAggregates(tier.Aggregates, $"{at}:Aggregates", errors);
            if (tier.RetentionPolicy is { } rp && rp.AsSpan().IndexOfAny('\n', '\r') >= 0)
                errors.Add($"{at}:RetentionPolicy = '{rp}': must not contain a line break");
            if (!string.IsNullOrEmpty(tier.Source)) ValidateSource(tier, at, seen, errors);
        }
        return errors;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> listing every problem <see cref="Validate"/> finds.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid downsample options: " + string.Join("; ", errors));
    }

    private static void ValidateName(DownsampleTier tier, string at, int index, Dictionary<string, int> seen, List<string> errors)
    {
        var name = tier.Name ?? "";
        if (name.Length == 0) errors.Add($"{at}:Name = '': a name is required");
        else if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            errors.Add($"{at}:Name = '{name}': only letters, digits, '_', '-' and '.' are allowed (it becomes part of the measurement)");
        else if (seen.TryGetValue(name, out int other)) errors.Add($"{at}:Name = '{name}': already used by Tiers:{other}");
        else seen[name] = index;
    }

    private static void ValidatePatterns(IReadOnlyList<string>? patterns, string at, List<string> errors)
    {
        if (patterns is null || patterns.Count == 0) { errors.Add($"{at} = '': at least one pattern is required ('*' for all)"); return; }
        for (int j = 0; j < patterns.Count; j++)
        {
            if (string.IsNullOrEmpty(patterns[j])) errors.Add($"{at}:{j} = '': a pattern must not be empty");
        }
    }

    private static void ValidateAggregates(IReadOnlyList<string>? names, string at, List<string> errors)
    {
        if (names is null || names.Count == 0) { errors.Add($"{at} = '': at least one aggregate is required"); return; }
        for (int j = 0; j < names.Count; j++)
        {
            if (!AggregateNames.TryParse(names[j], out _))
                errors.Add($"{at}:{j} = '{names[j]}': unknown aggregate; expected one of {AggregateNames.Expected}");
        }
    }

    private void ValidateSource(DownsampleTier tier, string at, Dictionary<string, int> seen, List<string> errors)
    {
        if (!seen.TryGetValue(tier.Source!, out int s) || Tiers[s] is not { } source || source.Name == tier.Name)
        {
            errors.Add($"{at}:Source = '{tier.Source}': must name a tier listed before this one");
            return;
        }
        if (source.Interval > TimeSpan.Zero && tier.Interval > TimeSpan.Zero
            && (tier.Interval <= source.Interval || tier.Interval.Ticks % source.Interval.Ticks != 0))
            errors.Add($"{at}:Interval = '{tier.Interval}': must be a multiple (greater than one) of source tier '{source.Name}''s interval {source.Interval}");
        if (tier.AllowedLateness != TimeSpan.Zero)
            errors.Add($"{at}:AllowedLateness = '{tier.AllowedLateness}': must be zero for a tier with a Source; it inherits the lateness of '{source.Name}'");
    }

    internal static Aggregates ParseAggregates(IReadOnlyList<string> names)
    {
        var flags = Aggregates.None;
        foreach (var n in names) { AggregateNames.TryParse(n, out var f); flags |= f; }
        return flags;
    }
}
