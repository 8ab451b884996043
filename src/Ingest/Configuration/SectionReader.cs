using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Ingest.Configuration;

/// <summary>
/// Reads one configuration section with typed getters that fail with the full key and the offending value,
/// and remembers which keys it read so that a misspelt key is reported instead of silently ignored.
/// </summary>
internal sealed class SectionReader
{
    private readonly IConfigurationSection _section;
    private readonly HashSet<string> _known = new(StringComparer.OrdinalIgnoreCase);

    public SectionReader(IConfiguration configuration, string name)
    {
        _section = configuration.GetSection(name);
        Name = name;
    }

    private SectionReader(IConfigurationSection section, string name)
    {
        _section = section;
        Name = name;
    }

    public string Name { get; }

    /// <summary>A reader of the child section <paramref name="key"/>: its errors name the full key, and it rejects its own unknown keys.</summary>
    public SectionReader Section(string key)
    {
        _known.Add(key);
        return new SectionReader(_section.GetSection(key), Key(key));
    }

    private string Key(string key) => $"{Name}:{key}";

    private string? Raw(string key)
    {
        _known.Add(key);
        return _section[key];
    }

    public string String(string key, string defaultValue) => Raw(key) is { } v ? v.Trim() : defaultValue;

    public int Int(string key, int defaultValue, int min, int max)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return defaultValue;
        if (!int.TryParse(raw.Trim().Replace("_", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new ConfigurationError(Key(key), raw, $"expected a whole number from {min} to {max}");
        return v;
    }

    public long Long(string key, long defaultValue, long min, long max)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return defaultValue;
        if (!long.TryParse(raw.Trim().Replace("_", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new ConfigurationError(Key(key), raw, $"expected a whole number from {min} to {max}");
        return v;
    }

    public bool Bool(string key, bool defaultValue)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return defaultValue;
        return raw.Trim().ToLowerInvariant() switch
        {
            "true" or "yes" or "on" or "1" => true,
            "false" or "no" or "off" or "0" => false,
            _ => throw new ConfigurationError(Key(key), raw, "expected true or false"),
        };
    }

    public TimeSpan Duration(string key, TimeSpan defaultValue, TimeSpan min, TimeSpan max)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return defaultValue;
        if (!DurationParser.TryParse(raw, out var v) || v < min || v > max)
            throw new ConfigurationError(Key(key), raw,
                $"expected a duration such as 250ms, 1s, 5m or 00:00:01, from {DurationParser.Format(min)} to {DurationParser.Format(max)}");
        return v;
    }

    public double? OptionalDouble(string key)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return null;
        if (!double.TryParse(raw.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new ConfigurationError(Key(key), raw, "expected a number such as 90 or 0.5");
        return v;
    }

    public TimeSpan? OptionalDuration(string key)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return null;
        if (!DurationParser.TryParse(raw, out var v))
            throw new ConfigurationError(Key(key), raw, "expected a duration such as 250ms, 1s, 5m or 00:00:01");
        return v;
    }

    /// <summary>A list given as an array (<c>Key:0</c>, <c>Key:1</c>…); null when absent, so the caller keeps its default.</summary>
    public IReadOnlyList<string>? List(string key)
    {
        var children = Child(key).GetChildren().ToList();
        if (children.Count == 0) return Raw(key) is { Length: > 0 } single ? [single.Trim()] : null;
        return InIndexOrder(children).Select(c => c.Value?.Trim() ?? "").ToList();
    }

    /// <summary>The elements of an array section, <c>:2</c> before <c>:10</c> (configuration orders keys as text).</summary>
    public IEnumerable<IConfigurationSection> Elements(string key) => InIndexOrder(Child(key).GetChildren());

    private static IEnumerable<IConfigurationSection> InIndexOrder(IEnumerable<IConfigurationSection> children) =>
        children.OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue);

    public Uri Url(string key, string defaultValue)
    {
        var raw = String(key, defaultValue);
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new ConfigurationError(Key(key), raw, "expected an absolute http:// or https:// URL");
        return uri;
    }

    public T Choice<T>(string key, T defaultValue, IReadOnlyDictionary<string, T> choices)
    {
        var raw = Raw(key);
        if (string.IsNullOrWhiteSpace(raw)) return defaultValue;
        foreach (var (name, value) in choices)
            if (string.Equals(name, raw.Trim(), StringComparison.OrdinalIgnoreCase)) return value;
        throw new ConfigurationError(Key(key), raw, "expected one of: " + string.Join(", ", choices.Keys));
    }

    public IConfigurationSection Child(string key)
    {
        _known.Add(key);
        return _section.GetSection(key);
    }

    /// <summary>Fails on any key of the section that no getter asked for: a typo must not pass for a default.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var child in _section.GetChildren())
        {
            if (!_known.Contains(child.Key))
                throw new ConfigurationError(
                    $"unknown configuration key {Name}:{child.Key} (known keys: {string.Join(", ", _known.Order(StringComparer.OrdinalIgnoreCase))})");
        }
    }
}
