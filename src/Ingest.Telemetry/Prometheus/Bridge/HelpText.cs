using System.Diagnostics.Metrics;
using System.Text;

namespace Ingest.Telemetry.Prometheus.Bridge;

internal static class HelpText
{
    /// <summary>
    /// The instrument's description, or a generated one (promtool requires HELP). prometheus-net writes HELP as
    /// given and one text serves both formats, so it is escaped here for both: backslash and line feed as the
    /// 0.0.4 format wants, and a double quote (which OpenMetrics must escape and 0.0.4 must not) becomes '.
    /// </summary>
    public static string For(Instrument instrument)
    {
        string? text = instrument.Description;
        if (string.IsNullOrWhiteSpace(text))
        {
            string unit = string.IsNullOrWhiteSpace(instrument.Unit) ? string.Empty : $" (unit {instrument.Unit})";
            text = $"Instrument {instrument.Name}{unit} of meter {instrument.Meter.Name}.";
        }
        return Escape(text);
    }

    public static string Escape(string text)
    {
        if (text.AsSpan().IndexOfAny("\\\n\"\r") < 0) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': break;
                case '"': sb.Append('\''); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
