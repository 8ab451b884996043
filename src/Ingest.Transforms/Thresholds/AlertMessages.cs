using System.Globalization;
using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>Human-readable text of events; built only when a transition happens.</summary>
internal static class AlertMessages
{
    public static string Transition(CompiledRule rule, SeriesEntry series, AlertLevel previous, AlertLevel level, double value)
    {
        var text = Subject(rule, series).Append(" is ").Append(Number(value));
        if (previous == AlertLevel.NoData) text.Append(", data resumed");
        if (level == AlertLevel.Ok || (previous != AlertLevel.NoData && level < previous))
        {
            text.Append(": ").Append(AlertLevelNames.Upper(level)).Append(", was ").Append(AlertLevelNames.Upper(previous));
            return text.ToString();
        }
        double threshold = level == AlertLevel.Crit ? rule.Crit : rule.Warn;
        text.Append(", ").Append(rule.Above ? "above " : "below ").Append(Number(threshold))
            .Append(" (").Append(AlertLevelNames.Upper(level)).Append(')');
        if (previous != AlertLevel.Ok && previous != AlertLevel.NoData)
            text.Append(", was ").Append(AlertLevelNames.Upper(previous));
        return text.ToString();
    }

    public static string NoData(CompiledRule rule, SeriesEntry series, AlertLevel previous) =>
        Subject(rule, series).Append(": no data for ").Append(Duration(rule.Rule.NoDataTimeout ?? TimeSpan.Zero))
            .Append(" (NODATA, was ").Append(AlertLevelNames.Upper(previous)).Append(')').ToString();

    private static StringBuilder Subject(CompiledRule rule, SeriesEntry series)
    {
        var text = new StringBuilder(96).Append(series.Measurement).Append(' ').Append(rule.Rule.Field);
        IReadOnlyList<DecodedTag> tags = series.Tags;
        for (int i = 0; i < tags.Count; i++)
            text.Append(i == 0 ? " on " : ",").Append(tags[i].Key).Append('=').Append(tags[i].Value);
        return text;
    }

    internal static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>5m, 1h30m, 90s, 1.5s: the way the configuration writes durations.</summary>
    internal static string Duration(TimeSpan span)
    {
        if (span.Ticks % TimeSpan.TicksPerSecond != 0) return Number(span.TotalSeconds) + "s";
        var text = new StringBuilder();
        if (span.Days > 0) text.Append(span.Days).Append('d');
        if (span.Hours > 0) text.Append(span.Hours).Append('h');
        if (span.Minutes > 0) text.Append(span.Minutes).Append('m');
        if (span.Seconds > 0 || text.Length == 0) text.Append(span.Seconds).Append('s');
        return text.ToString();
    }
}
