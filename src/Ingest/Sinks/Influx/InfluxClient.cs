using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.Configuration;

namespace Ingest.Sinks.Influx;

/// <summary>
/// Speaks InfluxDB's HTTP write API (1.x <c>/write</c> or 2.x <c>/api/v2/write</c>) and classifies each answer
/// into a <see cref="WriteResult"/>. One attempt per call: retrying is the sink's business.
/// </summary>
public sealed partial class InfluxClient
{
    private readonly HttpClient _http;
    private readonly InfluxOptions _options;

    public InfluxClient(HttpClient http, InfluxOptions options)
    {
        _http = http;
        _options = options;
    }

    public InfluxOptions Options => _options;

    /// <summary>The HTTP client, for a second <see cref="InfluxClient"/> with other options on the same connections.</summary>
    public HttpClient Http => _http;

    public async Task<WriteResult> WriteAsync(InfluxWrite write, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, WriteUri(write.Target))
        {
            Content = write.CreateContent(_options.Gzip),
        };
        Authorize(request);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return WriteResult.Ok;
            var body = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            return Classify(response.StatusCode, body, RetryAfter(response));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WriteResult(WriteStatus.Retryable, 0, $"no answer within {DurationParser.Format(_options.Timeout)}", null, null, "timeout");
        }
        catch (HttpRequestException e)
        {
            return new WriteResult(WriteStatus.Retryable, 0, e.Message, null, null, "network");
        }
    }

    /// <summary>Answers from InfluxDB's <c>/ping</c>: true on 204.</summary>
    public async Task<(bool Ok, string? Error, string? Version)> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(_options.Url, "ping"), cancellationToken).ConfigureAwait(false);
            var version = response.Headers.TryGetValues("X-Influxdb-Version", out var v) ? v.FirstOrDefault() : null;
            return response.IsSuccessStatusCode ? (true, null, version) : (false, $"ping answered {(int)response.StatusCode}", version);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (false, e.Message, null);
        }
    }

    /// <summary>
    /// Runs a read-only InfluxQL query against <paramref name="database"/> (1.x <c>/query</c>, which 2.x serves for
    /// mapped buckets too), timestamps in nanoseconds. Returns the JSON answer, or the status and error text.
    /// </summary>
    public async Task<(System.Text.Json.JsonDocument? Result, int Status, string? Error)> QueryAsync(string database, string query, CancellationToken cancellationToken)
    {
        var uri = new Uri(_options.Url, "query?epoch=ns&db=" + Uri.EscapeDataString(database) + "&q=" + Uri.EscapeDataString(query));
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        Authorize(request);
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return (null, (int)response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false));
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return (await System.Text.Json.JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false), 200, null);
        }
        catch (HttpRequestException e)
        {
            return (null, 502, e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, 504, "InfluxDB did not answer in time");
        }
    }

    /// <summary>Runs <c>CREATE DATABASE</c> (1.x). A failure is returned, not thrown, so the caller can retry it.</summary>
    public async Task<WriteResult> CreateDatabaseAsync(string database, CancellationToken cancellationToken)
    {
        var query = "CREATE DATABASE \"" + database.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_options.Url, "query"))
        {
            Content = new FormUrlEncodedContent([new("q", query)]),
        };
        Authorize(request);
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return WriteResult.Ok;
            var body = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            return Classify(response.StatusCode, body, RetryAfter(response)) with { Status = WriteStatus.Retryable };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WriteResult(WriteStatus.Retryable, 0, "CREATE DATABASE timed out", null, null, "timeout");
        }
        catch (HttpRequestException e)
        {
            return new WriteResult(WriteStatus.Retryable, 0, e.Message, null, null, "network");
        }
    }

    internal Uri WriteUri(InfluxTarget target)
    {
        var sb = new StringBuilder();
        if (_options.ApiVersion == 1)
        {
            sb.Append("write?db=").Append(Uri.EscapeDataString(target.Database));
            if (target.RetentionPolicy.Length > 0) sb.Append("&rp=").Append(Uri.EscapeDataString(target.RetentionPolicy));
            sb.Append("&precision=ns");
            if (_options.Username.Length > 0)
                sb.Append("&u=").Append(Uri.EscapeDataString(_options.Username)).Append("&p=").Append(Uri.EscapeDataString(_options.Password));
        }
        else
        {
            sb.Append("api/v2/write?org=").Append(Uri.EscapeDataString(_options.Org))
              .Append("&bucket=").Append(Uri.EscapeDataString(target.Database))
              .Append("&precision=ns");
        }
        return new Uri(_options.Url, sb.ToString());
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (_options.Token.Length > 0) request.Headers.Authorization = new AuthenticationHeaderValue("Token", _options.Token);
    }

    internal static WriteResult Classify(HttpStatusCode status, string body, TimeSpan? retryAfter)
    {
        var code = (int)status;
        var type = "status_" + code.ToString(CultureInfo.InvariantCulture);
        switch (code)
        {
            case 400 or 422:
                // "partial write: … dropped=N": InfluxDB stored the other points. Any other 400 refuses the lot.
                var dropped = DroppedCount().Match(body);
                if (dropped.Success && int.TryParse(dropped.Groups[1].ValueSpan, CultureInfo.InvariantCulture, out var n))
                    return new WriteResult(WriteStatus.PartiallyRejected, code, body, n, null, type);
                return new WriteResult(WriteStatus.Rejected, code, body, null, null, type);
            case 404 when body.Contains("database not found", StringComparison.OrdinalIgnoreCase):
                return new WriteResult(WriteStatus.DatabaseNotFound, code, body, null, null, type);
            case 404:
                return new WriteResult(WriteStatus.Rejected, code, body, null, null, type);
            case 413:
                return new WriteResult(WriteStatus.TooLarge, code, body, null, null, type);
            case 500 when body.Contains("retention policy not found", StringComparison.OrdinalIgnoreCase):
                return new WriteResult(WriteStatus.Rejected, code, body, null, null, type);
            default:
                // 401/403 are retried too: a credential fixed on the server must not cost the points meanwhile,
                // and the retries are visible in metrics and logs.
                return new WriteResult(WriteStatus.Retryable, code, body, null, retryAfter, type);
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header is null) return null;
        if (header.Delta is { } delta) return delta;
        if (header.Date is { } date) return date - DateTimeOffset.UtcNow is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero;
        return null;
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return $"HTTP {(int)response.StatusCode} (body unreadable: {e.Message})";
        }
        if (text.Length > 4096) text = text[..4096];
        // 1.x: {"error":"…"}; 2.x: {"code":"…","message":"…"}; proxies: anything.
        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (json.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String) return e.GetString()!;
                if (json.RootElement.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) return m.GetString()!;
            }
        }
        catch (JsonException)
        {
        }
        return text.Length > 0 ? text : $"HTTP {(int)response.StatusCode}";
    }

    [GeneratedRegex(@"dropped=(\d+)")]
    private static partial Regex DroppedCount();
}
