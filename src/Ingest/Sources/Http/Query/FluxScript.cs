using System.Text;
using Ingest.Configuration;

namespace Ingest.Sources.Http.Query;

/// <summary>
/// Judges a Flux script for <c>POST /api/v2/query</c>. Flux can write (<c>to()</c>, <c>wideTo()</c>,
/// <c>experimental.to</c>, <c>sql.to</c>, <c>http.post</c>, notification packages, …), so a script needs
/// <c>admin</c> when, with its strings and comments taken out, it names <c>to</c> or <c>wideTo</c>, imports a
/// package outside <see cref="ReadOnlyPackages"/>, or holds something that cannot be judged (an interpolated
/// string <c>"${…}"</c>, whose expression runs; an unterminated string); otherwise <c>read</c>.
/// </summary>
public static class FluxScript
{
    /// <summary>Packages that only compute or read: none of their functions writes or reaches another system.</summary>
    public static readonly IReadOnlySet<string> ReadOnlyPackages = new HashSet<string>(StringComparer.Ordinal)
    {
        "array", "date", "dict", "join", "math", "regexp", "strings", "timezone", "types",
        "influxdata/influxdb/schema", "influxdata/influxdb/v1",
    };

    /// <summary>The scope the script needs and, for admin, why.</summary>
    public static (Scopes Needs, string? Reason) Judge(string script)
    {
        var code = new StringBuilder(script.Length);
        var strings = new List<(int At, string Value)>();
        var i = 0;
        while (i < script.Length)
        {
            var c = script[i];
            if (c == '/' && i + 1 < script.Length && script[i + 1] == '/')
            {
                var end = script.IndexOf('\n', i);
                i = end < 0 ? script.Length : end;
                code.Append(' ');
            }
            else if (c == '"')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= script.Length) return (Scopes.Admin, "an unterminated string cannot be judged");
                    var s = script[i++];
                    if (s == '"') break;
                    if (s == '\\' && i < script.Length)
                    {
                        value.Append(script[i++]);
                        continue;
                    }
                    if (s == '$' && i < script.Length && script[i] == '{')
                        return (Scopes.Admin, "an interpolated string (\"${…}\") runs code that cannot be judged");
                    value.Append(s);
                }
                strings.Add((code.Length, value.ToString()));
                code.Append("\"\"");
            }
            else
            {
                code.Append(c);
                i++;
            }
        }

        var text = code.ToString();
        for (var k = 0; k < text.Length;)
        {
            if (!IsIdentStart(text[k]))
            {
                k++;
                continue;
            }
            var start = k;
            while (k < text.Length && IsIdentPart(text[k])) k++;
            var word = text[start..k];
            if (word is "to" or "wideTo") return (Scopes.Admin, $"it calls {word}(), which writes");
            if (word != "import") continue;
            // import [alias] "path"
            var j = SkipSpace(text, k);
            if (j < text.Length && IsIdentStart(text[j]))
            {
                while (j < text.Length && IsIdentPart(text[j])) j++;
                j = SkipSpace(text, j);
            }
            var path = strings.FirstOrDefault(s => s.At == j).Value;
            if (path is null) return (Scopes.Admin, "an import that cannot be read");
            if (!ReadOnlyPackages.Contains(path)) return (Scopes.Admin, $"it imports \"{path}\", which is not a read-only package");
        }
        return (Scopes.Read, null);
    }

    private static int SkipSpace(string text, int k)
    {
        while (k < text.Length && char.IsWhiteSpace(text[k])) k++;
        return k;
    }

    private static bool IsIdentStart(char c) => char.IsLetter(c) || c == '_';

    private static bool IsIdentPart(char c) => char.IsLetterOrDigit(c) || c == '_';
}
