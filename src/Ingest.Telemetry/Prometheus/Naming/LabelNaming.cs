namespace Ingest.Telemetry.Prometheus.Naming;

internal static class LabelNaming
{
    /// <summary>
    /// Tag key → Prometheus label name: snake_case tokens joined by "_" (never a leading "__", which is
    /// reserved), "_" before a leading digit, "tag" for an empty key. "le" and "quantile" become "tag_le"
    /// and "tag_quantile": they belong to histogram buckets and summaries and promtool rejects them elsewhere.
    /// </summary>
    public static string Sanitize(string key)
    {
        var tokens = NameTokens.Split(key);
        if (tokens.Count == 0) return "tag";
        string name = string.Join('_', tokens);
        if (char.IsAsciiDigit(name[0])) return "_" + name;
        return name is "le" or "quantile" ? "tag_" + name : name;
    }
}
