using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingest.Admission;
using Ingest.Configuration;
using Ingest.Sinks.Influx;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources.Http.Query;

/// <summary>
/// <c>GET|POST /query</c> (InfluxDB 1.x) and <c>POST /api/v2/query</c> (Flux), forwarded to InfluxDB so that a
/// client needs only the daemon's URL. With auth on, each InfluxQL statement is judged on its own (see
/// <see cref="InfluxQlStatements"/>) and the whole request is refused, nothing forwarded, when one is not allowed.
/// The forwarded request is built anew from the judged text and a fixed list of parameters, never copied from the
/// client's query string or body, and carries the daemon's own InfluxDB credentials.
/// </summary>
public sealed partial class QueryEndpoint(
    IngestOptions options,
    WriteCredentials credentials,
    InfluxClient influx,
    InfluxSchema schema,
    ILogger<QueryEndpoint> logger)
{
    public const string V1Path = "/query";
    public const string V2Path = "/api/v2/query";

    /// <summary>The 1.x parameters passed on to InfluxDB besides <c>q</c>; anything else a client sends is not.</summary>
    private static readonly string[] Forwarded = ["db", "rp", "epoch", "pretty", "chunked", "chunk_size", "params"];

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapMethods(V1Path, ["GET", "POST"], (HttpContext c, QueryEndpoint e) => e.HandleV1Async(c));
        app.MapPost(V2Path, (HttpContext c, QueryEndpoint e) => e.HandleV2Async(c));
    }

    public async Task HandleV1Async(HttpContext context)
    {
        var request = context.Request;
        var token = credentials.Authenticate(request);
        if (token is null)
        {
            await V1Error(context, 401, "authorization failed");
            return;
        }

        IFormCollection? form = null;
        if (HttpMethods.IsPost(request.Method) && request.HasFormContentType)
        {
            // A query is text: hold no more of a form than a write body may be (ASP.NET's own limits are larger).
            var limit = options.Http.MaxBodySize;
            context.Features.Set<Microsoft.AspNetCore.Http.Features.IFormFeature>(new Microsoft.AspNetCore.Http.Features.FormFeature(request, new Microsoft.AspNetCore.Http.Features.FormOptions
            {
                MultipartBodyLengthLimit = limit,
                ValueLengthLimit = (int)Math.Min(int.MaxValue, limit),
            }));
            try
            {
                form = await request.ReadFormAsync(context.RequestAborted);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
            {
                await V1Error(context, 400, "unable to read the form body: " + e.Message);
                return;
            }
        }

        // Each parameter once, from the query string or the body: a second q (or db) could otherwise be the one
        // InfluxDB runs while the daemon judged the first.
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Forwarded.Prepend("q"))
        {
            var given = new List<string>();
            given.AddRange(request.Query[name].Select(v => v ?? ""));
            if (form is not null)
            {
                given.AddRange(form[name].Select(v => v ?? ""));
                foreach (var file in form.Files.GetFiles(name))
                {
                    if (file.Length > options.Http.MaxBodySize)
                    {
                        await V1Error(context, 413, "Request Entity Too Large");
                        return;
                    }
                    using var reader = new StreamReader(file.OpenReadStream(), Encoding.UTF8);
                    given.Add(await reader.ReadToEndAsync(context.RequestAborted));
                }
            }
            if (given.Count > 1)
            {
                await V1Error(context, 400, $"parameter \"{name}\" is given {given.Count} times (query string and body together): give it once");
                return;
            }
            values[name] = given.Count == 1 ? given[0] : "";
        }

        var text = values["q"].Trim();
        if (text.Length == 0)
        {
            await V1Error(context, 400, "missing required parameter \"q\"");
            return;
        }
        IReadOnlyList<InfluxQlStatement>? statements = null;
        try
        {
            statements = InfluxQlStatements.Parse(text);
        }
        catch (InfluxQlSyntaxException e) when (credentials.Enabled)
        {
            await V1Error(context, 400, "error parsing query: " + e.Message);
            return;
        }
        catch (InfluxQlSyntaxException)
        {
            // Auth off: nothing to judge, InfluxDB gives its own parse error.
        }

        var db = values["db"];
        if (credentials.Enabled && InfluxQlStatements.Refusal(token, statements!, db, values["params"], options.Influx) is { } refusal)
        {
            LogRefused(token.Name, refusal);
            await V1Error(context, 403, "error authorizing query: " + refusal);
            return;
        }

        // A token limited to databases sees only those in SHOW DATABASES: the answer is read whole to be cut.
        var filter = token.Databases is not null && statements is not null && statements.Any(s => s.Kind == InfluxQlStatementKind.ShowDatabases);
        var parameters = new List<KeyValuePair<string, string>> { new("q", text) };
        foreach (var name in Forwarded)
        {
            if (values[name].Length == 0 || (filter && name is "chunked" or "chunk_size")) continue;
            parameters.Add(new(name, values[name]));
        }
        // GET stays GET: InfluxDB then answers a statement that changes something with its read-only warning, as
        // it would to the client directly.
        var get = HttpMethods.IsGet(request.Method);
        var path = get ? "query?" + string.Join('&', parameters.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value))) : "query";
        using var response = await SendAsync(context, InfluxApi.V1, get ? HttpMethod.Get : HttpMethod.Post, path,
            get ? null : new FormUrlEncodedContent(parameters), filter ? "application/json" : request.Headers.Accept.ToString());
        if (response is null) return;

        // Before the answer goes back: a client that writes as soon as it has it must find the schema forgotten.
        if (response.IsSuccessStatusCode)
        {
            if (statements is null) schema.Invalidate(null);
            else foreach (var s in statements.Where(s => s.ChangesSchema)) schema.Invalidate(s.SchemaDatabase(db));
        }

        if (filter && response.IsSuccessStatusCode)
            await WriteFilteredAsync(context, response, token, statements!, values["pretty"] == "true");
        else
            await CopyAsync(context, response);
    }

    public async Task HandleV2Async(HttpContext context)
    {
        var request = context.Request;
        var token = credentials.Authenticate(request);
        if (token is null)
        {
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 401, "unauthorized access");
            return;
        }

        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            if (body.Length + read > options.Http.MaxBodySize)
            {
                await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 413, $"query body is larger than {options.Http.MaxBodySize} bytes");
                return;
            }
            body.Write(buffer, 0, read);
        }

        string script;
        var judgedAdmin = default(string);
        HttpContent content;
        var type = MediaTypeHeaderValue.TryParse(request.ContentType, out var t) ? t.MediaType : null;
        if (type == "application/vnd.flux")
        {
            script = Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)body.Length);
            content = new StringContent(script, Encoding.UTF8, "application/vnd.flux");
        }
        else
        {
            // The body InfluxDB gets is written anew from the members read here, each once: with two "query"
            // members the daemon could judge one while InfluxDB runs the other.
            var rebuilt = new MemoryStream();
            try
            {
                using var json = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
                if (json.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("the body is not a JSON object");
                var seen = new HashSet<string>(StringComparer.Ordinal);
                using var writer = new Utf8JsonWriter(rebuilt);
                writer.WriteStartObject();
                foreach (var member in json.RootElement.EnumerateObject())
                {
                    if (!seen.Add(member.Name)) throw new JsonException($"member \"{member.Name}\" is given twice");
                    if (member.Name is not ("query" or "type" or "dialect" or "now" or "params" or "extern")) continue;
                    if (member.Name == "extern" && member.Value.ValueKind != JsonValueKind.Null)
                        judgedAdmin = "it has an \"extern\" member, which cannot be judged";
                    member.WriteTo(writer);
                }
                writer.WriteEndObject();
                writer.Flush();
                if (!json.RootElement.TryGetProperty("query", out var q) || q.ValueKind != JsonValueKind.String)
                    throw new JsonException("\"query\" (a string) is required");
                script = q.GetString()!;
            }
            catch (JsonException e)
            {
                await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 400, "failed to decode request body: " + e.Message);
                return;
            }
            content = new ByteArrayContent(rebuilt.ToArray());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        if (credentials.Enabled)
        {
            string? refusal = null;
            var (needs, reason) = FluxScript.Judge(script);
            if (judgedAdmin is not null) (needs, reason) = (Scopes.Admin, judgedAdmin);
            if (token.Databases is not null)
                refusal = $"token '{token.Name}' is limited to databases, and a Flux query cannot be checked against them";
            else if (!token.Allows(needs))
                refusal = $"the query needs the {needs.ToString().ToLowerInvariant()} scope{(reason is null ? "" : $" ({reason})")}, which token '{token.Name}' lacks";
            if (refusal is not null)
            {
                content.Dispose();
                LogRefused(token.Name, refusal);
                await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 403, refusal);
                return;
            }
        }

        var path = "api/v2/query";
        foreach (var name in new[] { "org", "orgID" })
        {
            if (request.Query[name] is { Count: 1 } v && v[0] is { Length: > 0 } value)
            {
                path += "?" + name + "=" + Uri.EscapeDataString(value);
                break;
            }
        }
        using var response = await SendAsync(context, InfluxApi.V2, HttpMethod.Post, path, content, request.Headers.Accept.ToString());
        if (response is not null) await CopyAsync(context, response);
    }

    private async Task<HttpResponseMessage?> SendAsync(HttpContext context, InfluxApi api, HttpMethod method, string path, HttpContent? content, string accept)
    {
        try
        {
            return await influx.SendQueryAsync(method, path, content, accept, context.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            await InfluxResponses.WriteErrorAsync(context, api, 502, $"InfluxDB at {influx.DisplayUrl} cannot be reached: {e.Message}");
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            await InfluxResponses.WriteErrorAsync(context, api, 504, $"InfluxDB at {influx.DisplayUrl} did not answer within {DurationParser.Format(options.Influx.Timeout)}");
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
        finally
        {
            content?.Dispose();
        }
        return null;
    }

    /// <summary>InfluxDB's answer as it comes (chunked answers chunk by chunk): status, type, error header, body.</summary>
    private static async Task CopyAsync(HttpContext context, HttpResponseMessage response)
    {
        var answer = context.Response;
        answer.StatusCode = (int)response.StatusCode;
        if (response.Content.Headers.ContentType is { } type) answer.ContentType = type.ToString();
        foreach (var header in new[] { "X-Influxdb-Error", "X-Platform-Error-Code" })
        {
            if (response.Headers.TryGetValues(header, out var value)) answer.Headers[header] = value.ToArray();
        }
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            await stream.CopyToAsync(answer.Body, context.RequestAborted);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException)
        {
            // InfluxDB or the client broke off mid-answer; the status is sent already, so the client must see a cut.
            context.Abort();
        }
    }

    /// <summary>The answer with SHOW DATABASES's rows cut to the databases <paramref name="token"/> is granted.</summary>
    private async Task WriteFilteredAsync(HttpContext context, HttpResponseMessage response, ApiToken token, IReadOnlyList<InfluxQlStatement> statements, bool pretty)
    {
        var text = await response.Content.ReadAsStringAsync(context.RequestAborted);
        var shows = statements.Where(s => s.Kind == InfluxQlStatementKind.ShowDatabases).Select(s => s.Number - 1).ToHashSet();
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            root = null;
        }
        if (root?["results"] is JsonArray results)
        {
            foreach (var result in results.OfType<JsonObject>())
            {
                if (result["statement_id"]?.GetValueKind() != JsonValueKind.Number || !shows.Contains(result["statement_id"]!.GetValue<int>())) continue;
                if (result["series"] is not JsonArray series) continue;
                foreach (var one in series.OfType<JsonObject>())
                {
                    if (one["values"] is not JsonArray rows) continue;
                    for (var i = rows.Count - 1; i >= 0; i--)
                    {
                        var name = rows[i] is JsonArray row && row.Count > 0 && row[0]?.GetValueKind() == JsonValueKind.String ? row[0]!.GetValue<string>() : null;
                        if (name is null || !token.MayUse(options.Influx.DatabaseOf(name))) rows.RemoveAt(i);
                    }
                    if (rows.Count == 0) one.Remove("values");
                }
            }
            text = root.ToJsonString(new JsonSerializerOptions { WriteIndented = pretty });
        }
        else if (root is null)
        {
            // Unread, it might list every database: refuse rather than pass it on.
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V1, 502, "InfluxDB's answer to SHOW DATABASES is not JSON");
            return;
        }
        var answer = context.Response;
        answer.StatusCode = (int)response.StatusCode;
        answer.ContentType = "application/json";
        await answer.WriteAsync(text, context.RequestAborted);
    }

    private static Task V1Error(HttpContext context, int status, string message)
    {
        if (context.Request.ContentLength is > 0 && !context.Request.HasFormContentType) context.Response.Headers.Connection = "close";
        return InfluxResponses.WriteErrorAsync(context, InfluxApi.V1, status, message);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Refused a query from token {Token}: {Reason}")]
    private partial void LogRefused(string token, string reason);
}
