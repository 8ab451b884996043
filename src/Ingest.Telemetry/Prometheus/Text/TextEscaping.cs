using System.Text;

namespace Ingest.Telemetry.Prometheus.Text;

/// <summary>
/// The two escapers of the 0.0.4 text format. Runs once per family or label set (the results are cached
/// as UTF-8), so plain string building is fine here.
/// </summary>
internal static class TextEscaping
{
    /// <summary>Label values: backslash, double quote and line feed must be escaped; anything else is literal.</summary>
    public static string LabelValue(string value) => Escape(value, escapeQuote: true);

    /// <summary>HELP text: only backslash and line feed; an escaped quote is rejected by older parsers.</summary>
    public static string Help(string text) => Escape(text, escapeQuote: false);

    private static string Escape(string value, bool escapeQuote)
    {
        if (value.AsSpan().IndexOfAny(escapeQuote ? "\\\"\n" : "\\\n") < 0) return value;
        var sb = new StringBuilder(value.Length + 8);
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '"' when escapeQuote: sb.Append("\\\""); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
