using System.Net;
using System.Text;

namespace Ingest.IntegrationTests;

/// <summary>
/// Posts numbered points in batches, remembering exactly which were acknowledged (2xx), so a test can demand
/// that every acknowledged point, and its value, reaches InfluxDB. Bounded by a batch count.
/// </summary>
internal sealed class LoadWriter(HttpClient client, string db, string measurement, int batchSize)
{
    private long _next;

    public long AcknowledgedPoints;
    public double AcknowledgedSum;
    public int Refused503;
    public int OtherFailures;
    public string? LastRetryAfter;
    public readonly List<string> Failures = new();

    /// <summary>Sends one batch; returns its status code, or 0 when the request failed outright.</summary>
    public async Task<int> SendBatchAsync(CancellationToken ct = default)
    {
        var first = Interlocked.Add(ref _next, batchSize) - batchSize;
        var sb = new StringBuilder();
        double sum = 0;
        for (var i = first; i < first + batchSize; i++)
        {
            // Unique series+timestamp per point, so InfluxDB keeps every one and a count is exact.
            var value = i * 0.5;
            sum += value;
            sb.Append(measurement).Append(",writer=w").Append(i % 7).Append(" v=").Append(value.ToString(System.Globalization.CultureInfo.InvariantCulture))
              .Append(",n=").Append(i).Append("i ").Append(1_600_000_000_000_000_000L + i * 1000).Append('\n');
        }
        try
        {
            using var r = await client.PostAsync($"write?db={db}", new StringContent(sb.ToString()), ct);
            if (r.IsSuccessStatusCode)
            {
                lock (this) { AcknowledgedPoints += batchSize; AcknowledgedSum += sum; }
            }
            else if (r.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Interlocked.Increment(ref Refused503);
                LastRetryAfter = r.Headers.RetryAfter?.ToString();
            }
            else
            {
                Interlocked.Increment(ref OtherFailures);
                var text = await r.Content.ReadAsStringAsync(ct);
                lock (Failures) Failures.Add($"{(int)r.StatusCode}: {text}");
            }
            return (int)r.StatusCode;
        }
        catch (HttpRequestException e)
        {
            Interlocked.Increment(ref OtherFailures);
            lock (Failures) Failures.Add(e.Message);
            return 0;
        }
    }
}
