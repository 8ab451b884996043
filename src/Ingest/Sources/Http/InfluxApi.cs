using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Ingest.Sources.Http;

/// <summary>Which InfluxDB write API a request came in on; it decides the shape of error bodies.</summary>
public enum InfluxApi { V1, V2 }

/// <summary>Error answers shaped as the InfluxDB API the client spoke, so its client library understands them.</summary>
public static class InfluxResponses
{
    /// <summary>
    /// 1.x: <c>{"error":"…"}</c> plus <c>X-Influxdb-Error</c> (not on 401, which carries <c>WWW-Authenticate</c>);
    /// 2.x: <c>{"code":"…","message":"…"}</c> plus <c>X-Platform-Error-Code</c>. Extra members (line numbers and
    /// counts of a partial write) are appended to both.
    /// </summary>
    public static Task WriteErrorAsync(HttpContext context, InfluxApi api, int status, string message,
        IReadOnlyDictionary<string, object>? extra = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var code = V2Code(status);
        if (status == StatusCodes.Status401Unauthorized)
            response.Headers.WWWAuthenticate = "Basic realm=\"Ingest\"";
        else if (api == InfluxApi.V1)
            response.Headers["X-Influxdb-Error"] = HeaderValue(message);
        if (api == InfluxApi.V2) response.Headers["X-Platform-Error-Code"] = code;

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, WriterOptions))
        {
            json.WriteStartObject();
            if (api == InfluxApi.V1)
            {
                json.WriteString("error", message);
            }
            else
            {
                json.WriteString("code", code);
                json.WriteString("message", message);
            }
            if (extra is not null)
            {
                foreach (var (k, v) in extra)
                {
                    json.WritePropertyName(k);
                    JsonSerializer.Serialize(json, v);
                }
            }
            json.WriteEndObject();
        }
        response.ContentLength = stream.Length;
        return response.Body.WriteAsync(stream.GetBuffer(), 0, (int)stream.Length, context.RequestAborted);
    }

    /// <summary>Longest <c>X-Influxdb-Error</c>, in characters, as InfluxDB cuts it.</summary>
    public const int MaxHeaderLength = 1024;

    /// <summary>
    /// The message as a header value. Messages quote the client's lines and parameters, and Kestrel refuses a
    /// header holding a control or non-ASCII character (the answer would become an empty 500), so those, and
    /// '%' itself, are percent-encoded as UTF-8: any URL decoder gives the message back. The value is cut at
    /// <see cref="MaxHeaderLength"/> between characters, never inside one's escape. The JSON body keeps the text as is.
    /// </summary>
    public static string HeaderValue(string message)
    {
        bool plain = true;
        foreach (char c in message)
        {
            if (c is < ' ' or > '~' or '%') { plain = false; break; }
        }
        if (plain) return message.Length > MaxHeaderLength ? message[..MaxHeaderLength] : message;

        var value = new StringBuilder(Math.Min(message.Length * 3, MaxHeaderLength));
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in message.EnumerateRunes())
        {
            if (rune.Value is >= ' ' and <= '~' and not '%')
            {
                if (value.Length + 1 > MaxHeaderLength) break;
                value.Append((char)rune.Value);
                continue;
            }
            int n = rune.EncodeToUtf8(utf8);
            if (value.Length + 3 * n > MaxHeaderLength) break;
            foreach (byte b in utf8[..n]) value.Append('%').Append(b.ToString("X2"));
        }
        return value.ToString();
    }

    // Quotes stay \" as InfluxDB writes them, not \u0022: people read these messages in logs.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string V2Code(int status) => status switch
    {
        400 => "invalid",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        // InfluxDB has no code of its own for a client too slow to send its body.
        408 => "request timeout",
        413 => "request too large",
        422 => "unprocessable entity",
        429 => "too many requests",
        501 => "not implemented",
        503 => "unavailable",
        _ => "internal error",
    };
}
