namespace Ingest.Transforms;

/// <summary>
/// <c>*</c> (any run, also empty) and <c>?</c> (one character) glob matching, ordinal: the one pattern syntax of
/// measurement, field and tag matchers in configuration.
/// </summary>
public static class Glob
{
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { star = p++; resume = t; }
            else if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            // Backtrack: let the last '*' swallow one more character. Linear in practice, never exponential.
            else if (star >= 0) { p = star + 1; t = ++resume; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    public static bool IsMatchAny(IReadOnlyList<string> patterns, ReadOnlySpan<char> text)
    {
        for (int i = 0; i < patterns.Count; i++)
        {
            if (IsMatch(patterns[i], text)) return true;
        }
        return false;
    }
}
