namespace Ingest.Sources.Http.Query;

public enum InfluxQlTokenKind
{
    /// <summary>An unquoted word: a keyword or a bare identifier (compared case-insensitively as a keyword).</summary>
    Word,
    /// <summary>A double-quoted identifier, unescaped; never a keyword.</summary>
    Identifier,
    /// <summary>A single-quoted string, unescaped.</summary>
    String,
    /// <summary>A regular expression literal <c>/…/</c>, only where InfluxQL's parser reads one.</summary>
    Regex,
    Number,
    /// <summary><c>$name</c>: replaced by InfluxDB from the <c>params</c> parameter, possibly by an identifier.</summary>
    BoundParameter,
    /// <summary>An operator or punctuation other than <c>;</c>: <c>.</c>, <c>,</c>, <c>(</c>, <c>=~</c>, …</summary>
    Symbol,
    Semicolon,
}

public readonly record struct InfluxQlToken(InfluxQlTokenKind Kind, string Text, int Position)
{
    public bool IsKeyword(string keyword) => Kind == InfluxQlTokenKind.Word && Text.Equals(keyword, StringComparison.OrdinalIgnoreCase);

    public bool IsName => Kind is InfluxQlTokenKind.Word or InfluxQlTokenKind.Identifier;

    public bool IsSymbol(string symbol) => Kind == InfluxQlTokenKind.Symbol && Text == symbol;

    /// <summary>The token as written (identifiers quoted), for messages; strings and regexes are elided.</summary>
    public override string ToString() => Kind switch
    {
        InfluxQlTokenKind.Identifier => "\"" + Text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"",
        InfluxQlTokenKind.String => "'...'",
        InfluxQlTokenKind.Regex => "/.../",
        _ => Text,
    };
}

/// <summary>A query text InfluxQL cannot read: an unterminated quote, comment or regex, or a bad escape.</summary>
public sealed class InfluxQlSyntaxException(string message, int position) : Exception($"{message} at character {position + 1}")
{
    public int Position { get; } = position;
}

/// <summary>
/// Cuts InfluxQL text into tokens the way InfluxDB 1.x's scanner does, so that what the daemon judges is what
/// InfluxDB will run. It knows single-quoted strings and double-quoted identifiers with InfluxQL's backslash
/// escapes (<c>\\ \" \' \n</c>; anything else is an error, and neither may span a line), <c>--</c> line comments,
/// <c>/* */</c> block comments, and regex literals. Whether <c>/</c> opens a regex or means division (or, before
/// <c>*</c>, a comment) depends on the token before it: InfluxQL's parser asks for a regex only after SELECT,
/// FROM, BY, <c>,</c>, <c>(</c>, <c>.</c>, <c>=~</c> and <c>!~</c>, none of which can end an operand, so reading a
/// regex there never hides what InfluxDB would read as a division.
/// </summary>
public static class InfluxQlTokenizer
{
    public static List<InfluxQlToken> Tokenize(string text)
    {
        var tokens = new List<InfluxQlToken>();
        int i = 0, n = text.Length;
        while (i < n)
        {
            char c = text[i];
            char next = i + 1 < n ? text[i + 1] : '\0';
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '-' && next == '-')
            {
                var end = text.IndexOf('\n', i);
                i = end < 0 ? n : end + 1;
            }
            else if (c == '/' && RegexMayFollow(tokens))
            {
                var start = i;
                tokens.Add(new(InfluxQlTokenKind.Regex, ScanRegex(text, ref i), start));
            }
            else if (c == '/' && next == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0) throw new InfluxQlSyntaxException("unterminated /* comment", i);
                i = end + 2;
            }
            else if (c == '\'')
            {
                var start = i;
                tokens.Add(new(InfluxQlTokenKind.String, ScanQuoted(text, ref i, "string"), start));
            }
            else if (c == '"')
            {
                var start = i;
                tokens.Add(new(InfluxQlTokenKind.Identifier, ScanQuoted(text, ref i, "quoted identifier"), start));
            }
            else if (IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < n && IsIdentChar(text[i])) i++;
                // InfluxDB reads a bare word running into a quote (abc"def") as the quoted identifier alone.
                if (i < n && text[i] == '"')
                    tokens.Add(new(InfluxQlTokenKind.Identifier, ScanQuoted(text, ref i, "quoted identifier"), start));
                else
                    tokens.Add(new(InfluxQlTokenKind.Word, text[start..i], start));
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(next)))
            {
                var start = i;
                while (i < n && (IsIdentChar(text[i]) || text[i] == '.' && i + 1 < n && char.IsAsciiDigit(text[i + 1]))) i++;
                tokens.Add(new(InfluxQlTokenKind.Number, text[start..i], start));
            }
            else if (c == '$')
            {
                var start = i++;
                if (i < n && text[i] == '"') ScanQuoted(text, ref i, "quoted parameter name");
                else while (i < n && IsIdentChar(text[i])) i++;
                tokens.Add(new(InfluxQlTokenKind.BoundParameter, text[start..i], start));
            }
            else if (c == ';')
            {
                tokens.Add(new(InfluxQlTokenKind.Semicolon, ";", i++));
            }
            else
            {
                var pair = text.AsSpan(i, Math.Min(2, n - i));
                var width = pair is "=~" or "!~" or "!=" or "<>" or "<=" or ">=" or "::" ? 2 : 1;
                tokens.Add(new(InfluxQlTokenKind.Symbol, text.Substring(i, width), i));
                i += width;
            }
        }
        return tokens;
    }

    private static bool IsLetter(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z';

    private static bool IsIdentChar(char c) => IsLetter(c) || char.IsAsciiDigit(c) || c == '_';

    private static bool RegexMayFollow(List<InfluxQlToken> tokens)
    {
        if (tokens.Count == 0) return false;
        var last = tokens[^1];
        return last.Kind switch
        {
            InfluxQlTokenKind.Word => last.IsKeyword("FROM") || last.IsKeyword("SELECT") || last.IsKeyword("BY"),
            InfluxQlTokenKind.Symbol => last.Text is "," or "(" or "." or "=~" or "!~",
            _ => false,
        };
    }

    /// <summary>A string or quoted identifier from its opening quote; <paramref name="i"/> ends past the closing one.</summary>
    private static string ScanQuoted(string text, ref int i, string what)
    {
        var start = i;
        var quote = text[i++];
        var value = new System.Text.StringBuilder();
        while (true)
        {
            if (i >= text.Length) throw new InfluxQlSyntaxException($"unterminated {what}", start);
            var c = text[i++];
            if (c == quote) return value.ToString();
            if (c == '\n') throw new InfluxQlSyntaxException($"unterminated {what} (a {what} cannot span lines)", start);
            if (c != '\\')
            {
                value.Append(c);
                continue;
            }
            var escaped = i < text.Length ? text[i++] : '\0';
            value.Append(escaped switch
            {
                'n' => '\n',
                '\\' or '"' or '\'' => escaped,
                _ => throw new InfluxQlSyntaxException($"bad escape \\{escaped} in {what}", i - 2),
            });
        }
    }

    /// <summary>
    /// A regex from its opening slash: <c>\/</c> is a slash, any other backslash is kept with what follows; a
    /// newline or the end of the text before the closing slash is an error, as in InfluxDB.
    /// </summary>
    private static string ScanRegex(string text, ref int i)
    {
        var start = i++;
        var value = new System.Text.StringBuilder();
        while (true)
        {
            if (i >= text.Length) throw new InfluxQlSyntaxException("unterminated regex", start);
            var c = text[i++];
            if (c == '/') return value.ToString();
            if (c == '\n') throw new InfluxQlSyntaxException("unterminated regex (a regex cannot span lines)", start);
            if (c == '\\' && i < text.Length && text[i] == '/')
            {
                value.Append('/');
                i++;
            }
            else
            {
                value.Append(c);
            }
        }
    }
}
