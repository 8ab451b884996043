using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingest.Configuration;
using Ingest.Sinks.Influx;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ingest.Sources.Http.Query;

/// <summary>
/// <c>GET /api/v2/buckets</c>, which 2.x clients call before they write or query. With a 1.x sink the list is made
/// from SHOW DATABASES and SHOW RETENTION POLICIES, one bucket <c>db/rp</c> per retention policy (InfluxDB 1.8's
/// mapping of buckets onto databases, which <c>/api/v2/write</c> also reads); with a 2.x sink InfluxDB's own list is
/// passed on. A token limited to databases sees only their buckets.
/// </summary>
public sealed class BucketsEndpoint(IngestOptions options, WriteCredentials credentials, InfluxClient influx)
{
    public const string Path = "/api/v2/buckets";

    /// <summary>InfluxDB 2.x's default page, and its largest.</summary>
    private const int DefaultLimit = 20, MaxLimit = 100;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet(Path, (HttpContext c, BucketsEndpoint e) => e.HandleAsync(c));

    public async Task HandleAsync(HttpContext context)
    {
        var token = credentials.Authenticate(context.Request);
        if (token is null)
        {
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 401, "unauthorized access");
            return;
        }
        if (!token.Allows(Scopes.Read))
        {
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 403, $"token '{token.Name}' lacks the read scope");
            return;
        }
        var query = context.Request.Query;
        var name = query["name"].ToString();
        var limit = DefaultLimit;
        var offset = 0;
        if ((query["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
            || (query["offset"].ToString() is { Length: > 0 } o && (!int.TryParse(o, CultureInfo.InvariantCulture, out offset) || offset < 0)))
        {
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, 400, $"limit must be 1 to {MaxLimit} and offset 0 or more");
            return;
        }

        var (buckets, status, error) = options.Influx.ApiVersion == 1
            ? await FromDatabasesAsync(context.RequestAborted)
            : await FromInfluxAsync(context.RequestAborted);
        if (buckets is null)
        {
            await InfluxResponses.WriteErrorAsync(context, InfluxApi.V2, status, error ?? "InfluxDB gave no bucket list");
            return;
        }
        var shown = buckets
            .Where(b => b["name"]?.GetValue<string>() is { } n && token.MayUse(DatabaseOfBucket(n)) && (name.Length == 0 || n == name))
            .Skip(offset).Take(limit)
            .Select(b => b.DeepClone())
            .ToArray();
        var answer = new JsonObject
        {
            ["links"] = new JsonObject { ["self"] = Path + context.Request.QueryString },
            ["buckets"] = new JsonArray(shown),
        };
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(answer.ToJsonString(), context.RequestAborted);
    }

    private static string DatabaseOfBucket(string bucket) => bucket.IndexOf('/') is var slash and > 0 ? bucket[..slash] : bucket;

    private async Task<(List<JsonObject>? Buckets, int Status, string? Error)> FromDatabasesAsync(CancellationToken ct)
    {
        var (databases, status, error) = await QueryRowsAsync("SHOW DATABASES", ct);
        if (databases is null) return (null, status, error);
        var names = databases.SelectMany(s => s.Rows).Select(r => r[0].GetString()!).ToList();
        if (names.Count == 0) return ([], 200, null);
        var (policies, status2, error2) = await QueryRowsAsync(
            string.Join("; ", names.Select(n => "SHOW RETENTION POLICIES ON \"" + n.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"")), ct);
        if (policies is null) return (null, status2, error2);
        var buckets = new List<JsonObject>();
        foreach (var (statement, rows) in policies)
        {
            var database = names[statement];
            foreach (var row in rows)
            {
                var bucket = database + "/" + row[0].GetString();
                buckets.Add(new JsonObject
                {
                    ["id"] = Id(bucket),
                    ["orgID"] = Id(options.Influx.Org),
                    ["type"] = database.StartsWith('_') ? "system" : "user",
                    ["name"] = bucket,
                    ["retentionRules"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "expire",
                        ["everySeconds"] = GoDurationSeconds(row[1].GetString()),
                        ["shardGroupDurationSeconds"] = GoDurationSeconds(row[2].GetString()),
                    }),
                    ["labels"] = new JsonArray(),
                });
            }
        }
        return (buckets, 200, null);
    }

    /// <summary>The rows of each statement's series, by statement index; null with a status when InfluxDB failed.</summary>
    private async Task<(List<(int Statement, List<JsonElement> Rows)>? Results, int Status, string? Error)> QueryRowsAsync(string q, CancellationToken ct)
    {
        var (json, status, error) = await influx.QueryAsync("", q, ct);
        if (json is null) return (null, status == 504 ? 504 : 502, $"InfluxDB at {influx.DisplayUrl}: {error}");
        using (json)
        {
            var results = new List<(int, List<JsonElement>)>();
            foreach (var result in json.RootElement.GetProperty("results").EnumerateArray())
            {
                if (result.TryGetProperty("error", out var e)) return (null, 502, $"InfluxDB at {influx.DisplayUrl}: {e.GetString()}");
                var rows = new List<JsonElement>();
                if (result.TryGetProperty("series", out var series))
                {
                    foreach (var s in series.EnumerateArray())
                    {
                        if (s.TryGetProperty("values", out var values)) rows.AddRange(values.EnumerateArray().Select(v => v.Clone()));
                    }
                }
                results.Add((result.TryGetProperty("statement_id", out var id) ? id.GetInt32() : results.Count, rows));
            }
            return (results, 200, null);
        }
    }

    private async Task<(List<JsonObject>? Buckets, int Status, string? Error)> FromInfluxAsync(CancellationToken ct)
    {
        // Every bucket, so that a limited token's page is cut from its own buckets; 2.x pages at 100 at most.
        var path = "api/v2/buckets?limit=" + MaxLimit + (options.Influx.Org.Length > 0 ? "&org=" + Uri.EscapeDataString(options.Influx.Org) : "");
        try
        {
            using var response = await influx.SendQueryAsync(HttpMethod.Get, path, null, "application/json", ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode) return (null, (int)response.StatusCode, $"InfluxDB at {influx.DisplayUrl} answered {(int)response.StatusCode}: {text}");
            return ((JsonNode.Parse(text)?["buckets"] as JsonArray)?.OfType<JsonObject>().ToList(), 502, "InfluxDB's bucket list has no buckets member");
        }
        catch (HttpRequestException e)
        {
            return (null, 502, $"InfluxDB at {influx.DisplayUrl} cannot be reached: {e.Message}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, 504, $"InfluxDB at {influx.DisplayUrl} did not answer within {DurationParser.Format(options.Influx.Timeout)}");
        }
        catch (JsonException e)
        {
            return (null, 502, $"InfluxDB's bucket list is not JSON: {e.Message}");
        }
    }

    /// <summary>A stable 16-hex-digit id, the form 2.x ids take, from a name (1.x has no ids).</summary>
    private static string Id(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)).AsSpan(0, 8));

    /// <summary>Seconds of a Go duration as InfluxDB prints it (<c>168h0m0s</c>, <c>0s</c> for infinite).</summary>
    internal static long GoDurationSeconds(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0;
        double seconds = 0, number = 0;
        var digits = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c) || c == '.')
            {
                digits.Append(c);
                continue;
            }
            number = double.Parse(digits.ToString(), CultureInfo.InvariantCulture);
            digits.Clear();
            var unit = c == 'm' && i + 1 < text.Length && text[i + 1] == 's' ? "ms" : c.ToString();
            if (unit == "ms") i++;
            else if (c is 'u' or 'µ' or 'n' && i + 1 < text.Length && text[i + 1] == 's') { unit = c == 'n' ? "ns" : "us"; i++; }
            seconds += unit switch
            {
                "h" => number * 3600,
                "m" => number * 60,
                "s" => number,
                "ms" => number / 1e3,
                "us" => number / 1e6,
                "ns" => number / 1e9,
                _ => 0,
            };
        }
        return (long)seconds;
    }
}
