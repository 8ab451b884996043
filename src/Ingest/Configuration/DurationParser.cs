using System.Globalization;

namespace Ingest.Configuration;

/// <summary>Durations as operators write them: <c>250ms</c>, <c>1s</c>, <c>5m</c>, <c>1h</c>, or a TimeSpan <c>00:00:01</c>.</summary>
public static class DurationParser
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        if (s.Contains(':')) return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;

        (string suffix, double ms)[] units = [("ms", 1), ("us", 0.001), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        foreach (var (suffix, ms) in units)
        {
            if (!s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            var number = s[..^suffix.Length];
            // "5m" must not be read as "5" + "m" of "ms": the loop tries "ms" first, and a bare number part is required.
            if (number.Length == 0 || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return false;
            value = TimeSpan.FromMilliseconds(n * ms);
            return true;
        }
        return false;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException($"'{text}' is not a duration");

    public static string Format(TimeSpan value)
    {
        if (value.TotalMilliseconds < 1000) return $"{value.TotalMilliseconds:0.###}ms";
        if (value.TotalSeconds < 60) return $"{value.TotalSeconds:0.###}s";
        if (value.TotalMinutes < 60) return $"{value.TotalMinutes:0.###}m";
        if (value.TotalHours < 24) return $"{value.TotalHours:0.###}h";
        return $"{value.TotalDays:0.###}d";
    }
}
