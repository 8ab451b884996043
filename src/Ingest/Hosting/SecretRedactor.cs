using System.Text;

namespace Ingest.Hosting;

/// <summary>
/// Removes credentials from text bound for a log: the values of the query parameters InfluxDB clients and this
/// daemon's API carry secrets in (<c>p</c>, <c>token</c>, and <c>password</c> as in Redis configuration strings),
/// however their names are cased or percent-encoded (ASP.NET Core reads <c>?P=</c> and <c>?%70=</c> as <c>p</c>);
/// whatever follows <c>Authorization</c> up to the end of its line; the password of a URL's user info; and the
/// configured secrets themselves (<c>Influx:Password</c>, <c>Influx:Token</c>) wherever they appear.
/// </summary>
public sealed class SecretRedactor
{
    public const string Mask = "***";

    private static readonly string[] SecretParameters = ["p", "token", "password"];

    // Shorter literals would mask ordinary text; such secrets are still masked where a parameter or header carries them.
    private const int MinLiteralLength = 4;

    private readonly string[] _literals;

    public SecretRedactor(IEnumerable<string?> secrets)
    {
        _literals = secrets.Where(s => s is { Length: >= MinLiteralLength }).Select(s => s!).Distinct(StringComparer.Ordinal)
            .OrderByDescending(s => s.Length).ToArray();
    }

    /// <summary>Redacts nothing but the parameter, header and user-info forms.</summary>
    public static readonly SecretRedactor Default = new([]);

    /// <summary><paramref name="text"/> with every secret replaced by <see cref="Mask"/>; the same instance when there was none.</summary>
    public string Redact(string text)
    {
        if (text.Length == 0 || !MayHoldSecret(text)) return text;
        var result = text;
        foreach (var literal in _literals)
            if (result.Contains(literal, StringComparison.Ordinal)) result = result.Replace(literal, Mask, StringComparison.Ordinal);
        result = RedactAuthorization(result);
        result = RedactParameters(result);
        result = RedactUserInfo(result);
        result = RedactStatementPasswords(result);
        return result;
    }

    private bool MayHoldSecret(string text)
    {
        if (text.Contains('=') || text.Contains('@') || text.Contains("uthorization", StringComparison.OrdinalIgnoreCase)
            || text.Contains("password", StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var literal in _literals)
            if (text.Contains(literal, StringComparison.Ordinal)) return true;
        return false;
    }

    // "Authorization: Bearer x", "Authorization=Token x", a header dump line: mask to the end of the line.
    private static string RedactAuthorization(string text)
    {
        var at = text.IndexOf("Authorization", StringComparison.OrdinalIgnoreCase);
        if (at < 0) return text;
        var sb = new StringBuilder(text.Length);
        var from = 0;
        while (at >= 0)
        {
            var i = at + "Authorization".Length;
            while (i < text.Length && text[i] is ' ' or '"' or '\'') i++;
            if (i < text.Length && text[i] is ':' or '=')
            {
                i++;
                while (i < text.Length && text[i] is ' ' or '"' or '\'') i++;
                var end = text.IndexOfAny(['\r', '\n'], i);
                if (end < 0) end = text.Length;
                if (end > i && text.AsSpan(i, end - i).Trim().ToString() != Mask)
                {
                    sb.Append(text, from, i - from).Append(Mask);
                    from = end;
                }
            }
            at = text.IndexOf("Authorization", Math.Max(at + 1, from), StringComparison.OrdinalIgnoreCase);
        }
        return from == 0 ? text : sb.Append(text, from, text.Length - from).ToString();
    }

    // name=value pairs after '?', '&', ',', ';' or a space (URLs, Redis configuration strings, log text).
    private static string RedactParameters(string text)
    {
        StringBuilder? sb = null;
        var from = 0;
        for (var eq = text.IndexOf('='); eq > 0; eq = text.IndexOf('=', eq + 1))
        {
            // The name runs back to the separator before it, or to the start of the text ("p=…" logged alone).
            var start = eq;
            while (start > 0 && !IsPairStart(text[start - 1])) start--;
            if (!IsSecretName(text.AsSpan(start, eq - start))) continue;
            var end = eq + 1;
            while (end < text.Length && !IsValueEnd(text[end])) end++;
            if (end == eq + 1 || text.AsSpan(eq + 1, end - eq - 1).SequenceEqual(Mask)) continue;
            sb ??= new StringBuilder(text.Length);
            sb.Append(text, from, eq + 1 - from).Append(Mask);
            from = end;
        }
        return sb is null ? text : sb.Append(text, from, text.Length - from).ToString();
    }

    private static bool IsPairStart(char c) => c is '?' or '&' or ',' or ';' or ' ' or '\t' or '\n' or '"' or '\'' or '(' or '[' or '{';

    private static bool IsValueEnd(char c) => c is '&' or ',' or ';' or ' ' or '\t' or '\r' or '\n' or '#' or '"' or '\'' or ')' or ']' or '}';

    private static bool IsSecretName(ReadOnlySpan<char> raw)
    {
        if (raw.Length == 0 || raw.Length > 64) return false;
        Span<char> decoded = stackalloc char[raw.Length];
        var n = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '%' && i + 2 < raw.Length && char.IsAsciiHexDigit(raw[i + 1]) && char.IsAsciiHexDigit(raw[i + 2]))
            {
                decoded[n++] = (char)(Hex(raw[i + 1]) * 16 + Hex(raw[i + 2]));
                i += 2;
            }
            else decoded[n++] = raw[i] == '+' ? ' ' : raw[i];
        }
        var name = decoded[..n].Trim();
        foreach (var secret in SecretParameters)
            if (name.Equals(secret, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    private static int Hex(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    // InfluxQL's "WITH PASSWORD 'x'" and "SET PASSWORD FOR u = 'x'", as written or percent-encoded in a /query URL
    // ("PASSWORD+%27x%27"): the string after the keyword is masked.
    private static string RedactStatementPasswords(string text)
    {
        StringBuilder? sb = null;
        var from = 0;
        for (var at = text.IndexOf("password", StringComparison.OrdinalIgnoreCase); at >= 0;
             at = text.IndexOf("password", at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var i = at + "password".Length;
            // SET PASSWORD FOR name = 'x': the user's name and '=' come between.
            var open = -1;
            for (var j = i; j < text.Length && j - i < 256; j++)
            {
                if (QuoteAt(text, j) is var q and > 0) { open = j + q; break; }
                if (text[j] is '\r' or '\n' or ';' or '&') break;
            }
            if (open < 0) continue;
            var close = open;
            while (close < text.Length && QuoteAt(text, close) == 0)
                close += text[close] == '\\' ? 2 : text.AsSpan(close).StartsWith("%5C", StringComparison.OrdinalIgnoreCase) ? 4 : 1;
            close = Math.Min(close, text.Length);
            if (close == open || text.AsSpan(open, close - open).SequenceEqual(Mask)) continue;
            sb ??= new StringBuilder(text.Length);
            sb.Append(text, from, open - from).Append(Mask);
            from = close;
            at = close;
        }
        return sb is null ? text : sb.Append(text, from, text.Length - from).ToString();
    }

    /// <summary>The length of a single quote at <paramref name="i"/>, as written (1) or percent-encoded (3); 0 for none.</summary>
    private static int QuoteAt(string text, int i) =>
        text[i] == '\'' ? 1 : text.AsSpan(i).StartsWith("%27", StringComparison.Ordinal) ? 3 : 0;

    // scheme://user:password@host
    private static string RedactUserInfo(string text)
    {
        StringBuilder? sb = null;
        var from = 0;
        for (var scheme = text.IndexOf("://", StringComparison.Ordinal); scheme >= 0; scheme = text.IndexOf("://", scheme + 3, StringComparison.Ordinal))
        {
            var hostStart = scheme + 3;
            var end = hostStart;
            while (end < text.Length && text[end] is not ('/' or '?' or '#' or ' ' or '\t' or '\r' or '\n' or '"' or '\'')) end++;
            var atSign = text.LastIndexOf('@', end - 1, end - hostStart);
            if (atSign < 0) continue;
            var colon = text.IndexOf(':', hostStart, atSign - hostStart);
            if (colon < 0 || text.AsSpan(colon + 1, atSign - colon - 1).SequenceEqual(Mask)) continue;
            sb ??= new StringBuilder(text.Length);
            sb.Append(text, from, colon + 1 - from).Append(Mask);
            from = atSign;
        }
        return sb is null ? text : sb.Append(text, from, text.Length - from).ToString();
    }
}
