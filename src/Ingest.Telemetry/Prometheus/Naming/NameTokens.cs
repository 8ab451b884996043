using System.Text;

namespace Ingest.Telemetry.Prometheus.Naming;

internal static class NameTokens
{
    /// <summary>
    /// Splits an OpenTelemetry-style name into lower-case snake_case tokens. Everything outside
    /// [A-Za-z0-9] separates tokens (so dots, dashes and runs of underscores collapse to one "_"), and a
    /// camelCase hump starts a new token because promtool rejects "[a-z][A-Z]" in names.
    /// </summary>
    public static List<string> Split(string text)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsAsciiLetterOrDigit(c))
            {
                Flush(tokens, current);
                continue;
            }
            if (char.IsAsciiLetterUpper(c) && current.Length > 0)
            {
                char prev = text[i - 1];
                bool nextIsLower = i + 1 < text.Length && char.IsAsciiLetterLower(text[i + 1]);
                if (char.IsAsciiLetterLower(prev) || char.IsAsciiDigit(prev) || (char.IsAsciiLetterUpper(prev) && nextIsLower))
                    Flush(tokens, current);
            }
            current.Append(char.ToLowerInvariant(c));
        }
        Flush(tokens, current);
        return tokens;
    }

    private static void Flush(List<string> tokens, StringBuilder current)
    {
        if (current.Length == 0) return;
        tokens.Add(current.ToString());
        current.Clear();
    }

    public static bool EndsWith(List<string> tokens, IReadOnlyList<string> suffix)
    {
        if (suffix.Count == 0 || suffix.Count > tokens.Count) return false;
        int offset = tokens.Count - suffix.Count;
        for (int i = 0; i < suffix.Count; i++)
        {
            if (tokens[offset + i] != suffix[i]) return false;
        }
        return true;
    }
}
