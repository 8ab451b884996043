using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Ingest.LoadGen;

public sealed record WriteTarget(string Label, string WriteUrl, string? Token);

public sealed class SendResult
{
    public long BodiesAccepted;
    public long PointsAccepted;
    public long Throttled;          // 429/503 responses that were retried
    public long Errors;             // non-2xx other than 429/503, transport failures, retry exhaustion
    public long BodiesSkipped;      // not dispatched because --duration ran out
    public long BodiesAbandoned;    // still throttled when --duration (+ request timeout) ran out
    public TimeSpan AcceptElapsed;  // first request start -> last 2xx
    public double[] LatenciesMs = [];
    public List<string> ErrorSamples = [];
}

/// <summary>Pushes pre-built bodies with a fixed number of in-flight requests, one connection each.</summary>
public static class Sender
{
    private const int MaxErrorSamples = 5;

    public static HttpClient CreateClient(int connections, double timeoutSeconds) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    })
    {
        Timeout = TimeSpan.FromSeconds(timeoutSeconds),
    };

    public static async Task<SendResult> RunAsync(WriteTarget target, Workload work, Options o, Stopwatch clock, int? bodyLimit = null)
    {
        // A fresh pool per run so neither side of a comparison inherits warm connections from the other.
        using var http = CreateClient(o.Concurrency, o.RequestTimeout);
        var result = new SendResult();
        var latencies = new List<double>[o.Concurrency];
        int next = -1;
        int dispatched = 0;
        long lastAcceptTicks = 0;
        TimeSpan? deadline = o.Duration > 0 ? TimeSpan.FromSeconds(o.Duration) : null;
        var uri = new Uri(target.WriteUrl);
        int total = Math.Min(bodyLimit ?? work.Batches.Length, work.Batches.Length);

        clock.Restart();
        var workers = Enumerable.Range(0, o.Concurrency).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<double>(work.Batches.Length / o.Concurrency + 1);
            while (true)
            {
                int idx = Interlocked.Increment(ref next);
                if (idx >= total) break;
                if (deadline is { } d && clock.Elapsed >= d) break;
                Interlocked.Increment(ref dispatched);
                var batch = work.Batches[idx];
                if (o.Rate > 0)
                {
                    // Paced: body idx is due when the points before it have had their share of time at the rate.
                    var due = TimeSpan.FromSeconds((double)idx * batch.Points / o.Rate);
                    var wait = due - clock.Elapsed;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait);
                }
                if (await SendOneAsync(http, uri, target.Token, batch.Body, o, clock, deadline, result, mine))
                {
                    Interlocked.Increment(ref result.BodiesAccepted);
                    Interlocked.Add(ref result.PointsAccepted, batch.Points);
                    InterlockedMax(ref lastAcceptTicks, clock.Elapsed.Ticks);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);

        result.AcceptElapsed = TimeSpan.FromTicks(lastAcceptTicks);
        result.BodiesSkipped = total - dispatched;
        result.LatenciesMs = latencies.SelectMany(l => l).Order().ToArray();
        return result;
    }

    private static async Task<bool> SendOneAsync(HttpClient http, Uri uri, string? token, byte[] body, Options o,
        Stopwatch clock, TimeSpan? deadline, SendResult result, List<double> latencies)
    {
        for (int attempt = 0; ; attempt++)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
            req.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
            if (o.Gzip) req.Content.Headers.ContentEncoding.Add("gzip");
            if (token != null) req.Headers.Authorization = new AuthenticationHeaderValue("Token", token);

            long t0 = Stopwatch.GetTimestamp();
            HttpResponseMessage resp;
            string? text;
            try
            {
                resp = await http.SendAsync(req);
                text = resp.IsSuccessStatusCode ? null : await resp.Content.ReadAsStringAsync();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Fail(result, $"transport: {ex.GetType().Name}: {ex.Message}");
                return false;
            }
            using (resp)
            {
                if (resp.IsSuccessStatusCode)
                {
                    latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    return true;
                }
                if (resp.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref result.Throttled);
                    TimeSpan wait = RetryAfter(resp) ?? TimeSpan.FromMilliseconds(Math.Min(1000, 50 << Math.Min(attempt, 5)));
                    if (deadline is { } d && clock.Elapsed + wait >= d + TimeSpan.FromSeconds(o.RequestTimeout))
                    {
                        Interlocked.Increment(ref result.BodiesAbandoned);
                        return false;
                    }
                    if (attempt >= o.MaxRetries)
                    {
                        Fail(result, $"gave up after {attempt + 1} throttled attempts ({(int)resp.StatusCode})");
                        return false;
                    }
                    await Task.Delay(wait);
                    continue;
                }
                Fail(result, $"HTTP {(int)resp.StatusCode}: {Trim(text)}");
                return false;
            }
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage resp)
    {
        var ra = resp.Headers.RetryAfter;
        if (ra?.Delta is { } delta) return delta;
        if (ra?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    private static void Fail(SendResult result, string message)
    {
        if (Interlocked.Increment(ref result.Errors) <= MaxErrorSamples)
            lock (result.ErrorSamples) result.ErrorSamples.Add(message);
    }

    private static string Trim(string? s) => s is null ? "" : s.Length <= 300 ? s.Trim() : s[..300].Trim() + "…";

    private static void InterlockedMax(ref long target, long value)
    {
        long cur = Volatile.Read(ref target);
        while (value > cur)
        {
            long seen = Interlocked.CompareExchange(ref target, value, cur);
            if (seen == cur) return;
            cur = seen;
        }
    }
}
