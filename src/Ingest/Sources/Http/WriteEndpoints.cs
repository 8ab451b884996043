using Ingest.Admission;
using Ingest.Configuration;
using Ingest.Hosting;
using Ingest.LineProtocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ingest.Sources.Http;

/// <summary>
/// The InfluxDB-compatible write source: <c>POST /write</c> (1.x), <c>POST /api/v2/write</c> (2.x) and
/// <c>GET|HEAD /ping</c>. A protocol adapter over <see cref="WriteAdmission"/>: it authenticates, reads and parses
/// the body, and turns the admission's verdict into InfluxDB's answers: 204 once every point is accepted, 400
/// naming the bad lines (the good lines of the same body kept), 503 with Retry-After when refused.
/// </summary>
public sealed class WriteEndpoints(
    IngestOptions options,
    LineProtocolParser parser,
    WriteCredentials credentials,
    WriteTelemetry telemetry,
    WriteAdmission admission,
    AdmissionSource source,
    BodyBudget bodyBudget)
{
    public const string V1Path = "/write";
    public const string V2Path = "/api/v2/write";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost(V1Path, (HttpContext c, WriteEndpoints e) => e.HandleAsync(c, InfluxApi.V1));
        app.MapPost(V2Path, (HttpContext c, WriteEndpoints e) => e.HandleAsync(c, InfluxApi.V2));
        app.MapMethods("/ping", ["GET", "HEAD"], (HttpContext c, IngestOptions o) =>
        {
            if (c.Request.Query["verbose"] == "true")
                return Results.Json(new { version = o.Http.InfluxVersionHeader });
            return Results.NoContent();
        }).ForMonitoring();
    }

    public async Task HandleAsync(HttpContext context, InfluxApi api)
    {
        var endpoint = api == InfluxApi.V1 ? V1Path : V2Path;
        var status = await HandleCoreAsync(context, api, endpoint).ConfigureAwait(false);
        telemetry.Request(endpoint, status);
    }

    private async Task<int> HandleCoreAsync(HttpContext context, InfluxApi api, string endpoint)
    {
        var request = context.Request;
        var query = request.Query;

        var token = credentials.Authenticate(request);
        if (token is null)
            return await Refuse(context, api, 401, api == InfluxApi.V1 ? "authorization failed" : "unauthorized access");
        if (!token.Allows(Scopes.Write))
            return await Refuse(context, api, 403, $"token '{token.Name}' lacks the write scope");

        Precision precision;
        if (api == InfluxApi.V1)
        {
            if (!PrecisionExtensions.TryParseV1(query["precision"], out precision))
                return await Refuse(context, api, 400, $"invalid precision \"{query["precision"]}\" (use n, u, ms, s, m or h)");
            var consistency = query["consistency"].ToString();
            if (consistency.Length > 0 && consistency is not ("any" or "one" or "quorum" or "all"))
                return await Refuse(context, api, 400, $"invalid consistency \"{consistency}\" (use any, one, quorum or all)");
        }
        else if (!PrecisionExtensions.TryParseV2(query["precision"], out precision))
        {
            return await Refuse(context, api, 400, "invalid precision; valid precision units are ns, us, ms, and s");
        }

        var (database, retentionPolicy) = Target(api, query);
        if (token.Databases is not null && options.Influx.DatabaseOf(database) is var granted && !token.MayUse(granted))
            return await Refuse(context, api, 403, $"token '{token.Name}' is not authorized to write to database \"{granted}\"");

        // Before the body is read: a paused daemon need not read and parse what it will refuse.
        if (admission.Paused)
        {
            context.Response.Headers.RetryAfter = options.Buffer.RetryAfterSeconds.ToString();
            return await Refuse(context, api, 503, AdmissionVerdict.MessageOf(RefusalReason.Paused)!);
        }

        var limits = new BodyLimits(options.Http.MaxBodySize, options.Http.BodyReadTimeout, options.Buffer.FullWaitTimeout);
        using var body = await RequestBody.ReadAsync(request, limits, bodyBudget, context.RequestAborted).ConfigureAwait(false);
        telemetry.BytesReceived(endpoint, body.WireBytes);
        switch (body.Error)
        {
            case BodyError.TooLarge when body.Consumed:
                return await Error(context, api, 413, api == InfluxApi.V1
                    ? "Request Entity Too Large"
                    : $"unable to read data: request body is larger than {options.Http.MaxBodySize} bytes");
            case BodyError.TooLarge:
                return await Refuse(context, api, 413, api == InfluxApi.V1
                    ? "Request Entity Too Large"
                    : $"unable to read data: request body is larger than {options.Http.MaxBodySize} bytes");
            case BodyError.BadGzip:
                return await Refuse(context, api, 400, "unable to decompress gzip body: " + body.Detail);
            case BodyError.NoMemory:
                telemetry.Refused(endpoint, "body_memory");
                context.Response.Headers.RetryAfter = options.Buffer.RetryAfterSeconds.ToString();
                return await Refuse(context, api, 503,
                    $"request bodies in flight hold Http:MaxBodyBytesInFlight ({bodyBudget.Capacity} bytes): the daemon cannot take this body now, retry later");
            case BodyError.Timeout:
                telemetry.Refused(endpoint, "body_timeout");
                return await Refuse(context, api, 408, "unable to read data: " + body.Detail);
            case BodyError.UnsupportedEncoding:
                return await Refuse(context, api, 415, body.Detail!);
            case BodyError.Aborted:
                return 499;
        }

        var batch = PointBatch.Rent();
        batch.Database = database;
        batch.RetentionPolicy = retentionPolicy;
        var summary = parser.Parse(body.Span, precision, NowNanoseconds(), batch);
        telemetry.Parsed(endpoint, summary.Points, summary.BadLines);
        var verdict = await admission.AdmitAsync(batch, summary.BadLines, source, context.RequestAborted).ConfigureAwait(false);
        if (verdict.Outcome == AdmissionOutcome.Refused)
        {
            if (verdict.Reason == RefusalReason.BufferFull) telemetry.BufferFull(endpoint, summary.Points);
            context.Response.Headers.RetryAfter = RetryAfter(verdict.RetryAfter);
            return await Error(context, api, 503, verdict.Message!);
        }
        if (verdict.IsAccepted) telemetry.Accepted(endpoint, verdict.Accepted);
        if (verdict.Schema.Refused)
        {
            telemetry.SchemaRefused(endpoint, summary.Points);
            return await Error(context, api, verdict.Schema.Status, verdict.Schema.Message);
        }
        var schemaDropped = verdict.Schema.Dropped;
        if (schemaDropped is not null) telemetry.SchemaRefused(endpoint, schemaDropped.Count);

        if (summary.BadLines > 0 || schemaDropped is not null)
        {
            var errors = LineErrors(summary, schemaDropped, body.Span, precision);
            var first = errors[0];
            int dropped = summary.BadLines + (schemaDropped?.Count ?? 0);
            int accepted = summary.Points - (schemaDropped?.Count ?? 0);
            telemetry.BadLines(endpoint, dropped, first.ToString());
            // A parse error reads "unable to parse '…': why (line n)"; a point InfluxDB would drop, InfluxDB's own
            // reason ("field type conflict: …", "points beyond retention policy").
            var reason = first.LineNumber > 0 && summary.Errors.Contains(first) ? first.ToString() : first.Reason;
            var message = accepted > 0 || schemaDropped is not null
                ? $"partial write: {reason} dropped={dropped} for database: {database}" + (retentionPolicy.Length > 0 ? $" for retention policy: {retentionPolicy}" : "")
                : dropped == 1 ? reason : $"{reason}; {dropped} lines rejected";
            return await Error(context, api, 400, message, new Dictionary<string, object>
            {
                ["line"] = first.LineNumber,
                ["rejected"] = dropped,
                ["accepted"] = accepted,
                ["errors"] = errors.Select(e => new { line = e.LineNumber, text = e.Line, reason = e.Reason }).ToArray(),
            });
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return 204;
    }

    /// <summary>
    /// The request's target, mapped onto the configured InfluxDB API: a 1.x sink takes <c>db</c>/<c>rp</c>, or a
    /// 2.x-style bucket <c>db/rp</c>; a 2.x sink takes <c>bucket</c>, or <c>db</c> (or <c>db/rp</c>) as the bucket name.
    /// Missing names fall back to the configured default.
    /// </summary>
    private (string Database, string RetentionPolicy) Target(InfluxApi api, IQueryCollection query)
    {
        string db, rp;
        if (api == InfluxApi.V1)
        {
            db = query["db"].ToString();
            rp = query["rp"].ToString();
        }
        else
        {
            var bucket = query["bucket"].ToString();
            var slash = bucket.IndexOf('/');
            (db, rp) = slash >= 0 ? (bucket[..slash], bucket[(slash + 1)..]) : (bucket, "");
        }
        return options.Influx.TargetOf(db, rp);
    }

    /// <summary>
    /// The bad lines and the points the schema check dropped, by line number, the first ten: the lines of the
    /// dropped points are found by parsing the body again (only a write with such points pays for it).
    /// </summary>
    private List<LineError> LineErrors(ParseSummary summary, IReadOnlyList<SchemaDrop>? schemaDropped, ReadOnlySpan<byte> body, Precision precision)
    {
        var errors = new List<LineError>(summary.Errors);
        if (schemaDropped is not null)
        {
            var lines = parser.PointLineNumbers(body, precision);
            foreach (var drop in schemaDropped.Take(parser.Options.MaxReportedErrors))
                errors.Add(new LineError(drop.PointIndex < lines.Length ? lines[drop.PointIndex] : 0, drop.Line, drop.Reason));
            errors.Sort((a, b) => a.LineNumber.CompareTo(b.LineNumber));
            if (errors.Count > parser.Options.MaxReportedErrors) errors.RemoveRange(parser.Options.MaxReportedErrors, errors.Count - parser.Options.MaxReportedErrors);
        }
        return errors;
    }

    private static string RetryAfter(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static long NowNanoseconds() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    /// <summary>
    /// An error answered before the body was read to its end. Kestrel would otherwise have to drain the rest, and
    /// gives up on a large one by dropping the connection under the client's next request: ask for a new one.
    /// </summary>
    private static Task<int> Refuse(HttpContext context, InfluxApi api, int status, string message)
    {
        if (context.Request.ContentLength is not 0) context.Response.Headers.Connection = "close";
        return Error(context, api, status, message);
    }

    private static async Task<int> Error(HttpContext context, InfluxApi api, int status, string message, IReadOnlyDictionary<string, object>? extra = null)
    {
        await InfluxResponses.WriteErrorAsync(context, api, status, message, extra).ConfigureAwait(false);
        return status;
    }
}
