using System.Text;
using System.Text.Json;

namespace Ingest.Sources.Decoding;

/// <summary>
/// One expression of a <see cref="JsonMapping"/>, compiled once at start. Three kinds, cheapest first:
/// <c>@subject</c> (the message's subject), a simple path (<c>a.b</c>, <c>a[0].b</c>, <c>"quoted key".c</c>) walked
/// on the parsed document with no allocation, and any other JMESPath expression, handed to JmesPath.Net (which
/// needs the item as text and gives its result as text: much slower, so only what needs it goes there).
/// </summary>
internal sealed class JsonExpression
{
    private readonly Step[]? _steps;
    private readonly DevLab.JmesPath.Expressions.JmesPathExpression? _query;

    private JsonExpression(string text, Step[]? steps, DevLab.JmesPath.Expressions.JmesPathExpression? query)
    {
        Text = text;
        _steps = steps;
        _query = query;
    }

    /// <summary>The expression as configured (for messages).</summary>
    public string Text { get; }

    public bool IsSubject => _steps is null && _query is null;

    /// <summary>True when evaluation goes through JmesPath.Net.</summary>
    public bool IsQuery => _query is not null;

    /// <summary>A path step: a property (its UTF-8 name) or an array index.</summary>
    internal readonly record struct Step(byte[]? Name, int Index);

    /// <summary>Compiles <paramref name="text"/>; throws <see cref="FormatException"/> with JmesPath.Net's reason when it is not JMESPath.</summary>
    public static JsonExpression Compile(string text, DevLab.JmesPath.JmesPath engine)
    {
        text = text.Trim();
        if (text.Length == 0) throw new FormatException("an expression cannot be empty");
        if (text == "@subject") return new JsonExpression(text, null, null);
        if (TryParseSimplePath(text, out var steps)) return new JsonExpression(text, steps, null);
        try
        {
            return new JsonExpression(text, null, engine.Parse(text));
        }
        catch (Exception e)
        {
            throw new FormatException("not a JMESPath expression: " + e.Message, e);
        }
    }

    /// <summary>
    /// Evaluates on <paramref name="item"/>. A JMESPath result is parsed into a document that
    /// <paramref name="scope"/> disposes when the message is done.
    /// </summary>
    public JsonValue Evaluate(JsonElement item, DecodeScope scope)
    {
        if (_steps is not null)
        {
            var current = item;
            foreach (var step in _steps)
            {
                if (step.Name is not null)
                {
                    if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(step.Name, out current)) return default;
                }
                else
                {
                    if (current.ValueKind != JsonValueKind.Array || step.Index >= current.GetArrayLength()) return default;
                    current = current[step.Index];
                }
            }
            return JsonValue.Of(current);
        }
        if (_query is null) return scope.Subject;
        var result = _query.Transform(ToToken(item)).AsJToken();
        if (result is null || result.Type == Newtonsoft.Json.Linq.JTokenType.Null) return default;
        var document = JsonDocument.Parse(result.ToString(Newtonsoft.Json.Formatting.None));
        scope.Keep(document);
        return JsonValue.Of(document.RootElement);
    }

    /// <summary>The item as JmesPath.Net's input; strings that look like dates stay strings.</summary>
    private static Newtonsoft.Json.Linq.JToken ToToken(JsonElement item)
    {
        using var reader = new Newtonsoft.Json.JsonTextReader(new StringReader(item.GetRawText()))
        {
            DateParseHandling = Newtonsoft.Json.DateParseHandling.None,
            FloatParseHandling = Newtonsoft.Json.FloatParseHandling.Decimal,
        };
        return Newtonsoft.Json.Linq.JToken.ReadFrom(reader);
    }

    /// <summary>
    /// <c>name(.name | [index])*</c>, or starting with an index; a name is a JMESPath unquoted identifier
    /// (<c>[A-Za-z_][A-Za-z0-9_]*</c>) or a quoted one (<c>"…"</c>, JSON escapes). Anything else is left to JmesPath.
    /// </summary>
    internal static bool TryParseSimplePath(string text, out Step[] steps)
    {
        var list = new List<Step>();
        steps = [];
        int i = 0;
        bool expectName = true;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '[')
            {
                int close = text.IndexOf(']', i);
                if (close < 0) return false;
                var digits = text.AsSpan(i + 1, close - i - 1);
                if (digits.IsEmpty || digits.Length > 9 || digits.ContainsAnyExceptInRange('0', '9')) return false;
                list.Add(new Step(null, int.Parse(digits)));
                i = close + 1;
                expectName = false;
                continue;
            }
            if (!expectName)
            {
                if (c != '.') return false;
                i++;
                if (i == text.Length) return false;
                c = text[i];
            }
            if (c == '"')
            {
                int end = i + 1;
                while (end < text.Length && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
                if (end >= text.Length) return false;
                string name;
                try
                {
                    name = JsonSerializer.Deserialize<string>(text.AsSpan(i, end - i + 1))!;
                }
                catch (JsonException)
                {
                    return false;
                }
                list.Add(new Step(Encoding.UTF8.GetBytes(name), 0));
                i = end + 1;
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                int end = i + 1;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) end++;
                list.Add(new Step(Encoding.UTF8.GetBytes(text[i..end]), 0));
                i = end;
            }
            else
            {
                return false;
            }
            expectName = false;
        }
        steps = list.ToArray();
        return steps.Length > 0;
    }
}

/// <summary>What an expression gave: nothing (missing), or a JSON value, or the subject text.</summary>
internal readonly struct JsonValue
{
    private readonly JsonElement _element;
    private readonly string? _text;

    private JsonValue(JsonElement element, string? text, JsonValueKind kind)
    {
        _element = element;
        _text = text;
        Kind = kind;
    }

    /// <summary><see cref="JsonValueKind.Undefined"/> when the expression found nothing.</summary>
    public JsonValueKind Kind { get; }

    public bool IsAbsent => Kind is JsonValueKind.Undefined or JsonValueKind.Null;

    public JsonElement Element => _element;

    public static JsonValue Of(JsonElement element) => new(element, null, element.ValueKind);

    public static JsonValue OfText(string? text) => text is null ? default : new(default, text, JsonValueKind.String);

    /// <summary>The subject, when this is it (its element is default).</summary>
    public string? Text => _text;
}

/// <summary>
/// What one message's decode needs besides the item: its subject (as an expression value) and the documents
/// JMESPath results were parsed into, disposed at the end. Reused by the decoder from message to message.
/// </summary>
internal sealed class DecodeScope
{
    private readonly List<JsonDocument> _documents = new();

    public JsonValue Subject { get; private set; }

    public void Begin(string? subject) => Subject = JsonValue.OfText(subject);

    public void Keep(JsonDocument document) => _documents.Add(document);

    public void End()
    {
        foreach (var d in _documents) d.Dispose();
        _documents.Clear();
        Subject = default;
    }
}
