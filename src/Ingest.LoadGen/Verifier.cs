using System.Diagnostics;
using System.Text.Json;

namespace Ingest.LoadGen;

public sealed record LandResult(bool Complete, long Landed, TimeSpan Elapsed, TimeSpan AnsweredAt, int Polls);

/// <summary>Talks to an InfluxDB 1.x /query endpoint: database admin and counting what actually landed.</summary>
public sealed class Verifier(string baseUrl) : IDisposable
{
    private readonly HttpClient _http = Sender.CreateClient(2, 60);

    public async Task PingAsync()
    {
        using var resp = await _http.GetAsync($"{baseUrl}/ping");
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"{baseUrl}/ping: HTTP {(int)resp.StatusCode}");
    }

    public Task DropAsync(string db) => ExecAsync($"DROP DATABASE {Ident(db)}");

    public async Task<bool> ExistsAsync(string db)
    {
        using var doc = await QueryAsync(HttpMethod.Get, "SHOW DATABASES", null);
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
            if (r.TryGetProperty("series", out var series))
                foreach (var s in series.EnumerateArray())
                    foreach (var row in s.GetProperty("values").EnumerateArray())
                        if (row[0].GetString() == db) return true;
        return false;
    }

    public Task CreateAsync(string db) => ExecAsync($"CREATE DATABASE {Ident(db)}");

    /// <summary>
    /// Points of the run's time span, summed over measurements (count of a field every point carries). One
    /// statement per measurement: splitting the span into windows made InfluxDB open every series once per window
    /// and cost it several CPU-seconds a poll at a million points, which a poll during delivery took from the writes.
    /// </summary>
    public async Task<long> CountAsync(string db, (string Measurement, string Field)[] targets, long fromNs, long toNs)
    {
        var q = new System.Text.StringBuilder();
        foreach (var (m, f) in targets)
            q.Append($"SELECT count({Ident(f)}) FROM {Ident(m)} WHERE time >= {fromNs} AND time <= {toNs};");
        using var doc = await QueryAsync(HttpMethod.Get, q.ToString(), db);
        long count = 0;
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            if (r.TryGetProperty("error", out var err)) throw new InvalidOperationException($"count query: {err.GetString()}");
            if (!r.TryGetProperty("series", out var series)) continue;
            foreach (var s in series.EnumerateArray())
                foreach (var row in s.GetProperty("values").EnumerateArray())
                    count += row[1].GetInt64();
        }
        return count;
    }

    /// <summary>
    /// Polls until the span holds <paramref name="expected"/> points. Landing is dated at the moment the
    /// satisfying query was issued (the previous poll, issued at most one pause earlier, still saw fewer), so a
    /// count query's own run time is not billed to the write path; AnsweredAt is the conservative upper bound.
    /// </summary>
    public async Task<LandResult> WaitForAsync(string db, (string, string)[] targets, long fromNs, long toNs, long expected,
        Stopwatch clock, TimeSpan timeout, TimeSpan pollInterval)
    {
        var waitStart = clock.Elapsed;
        long seen = 0;
        int polls = 0;
        while (true)
        {
            var issued = clock.Elapsed;
            polls++;
            try
            {
                seen = await CountAsync(db, targets, fromNs, toNs);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException)
            {
                Console.Error.WriteLine($"  count poll failed: {ex.Message}");
            }
            var answered = clock.Elapsed;
            if (seen >= expected) return new LandResult(true, seen, issued, answered, polls);
            if (answered - waitStart >= timeout) return new LandResult(false, seen, answered, answered, polls);
            // Counting a million points costs the server real CPU; never spend more than half of its time on it.
            var took = answered - issued;
            await Task.Delay(took > pollInterval ? took : pollInterval);
        }
    }

    private async Task ExecAsync(string statement)
    {
        using var _ = await QueryAsync(HttpMethod.Post, statement, null);
    }

    private async Task<JsonDocument> QueryAsync(HttpMethod method, string q, string? db)
    {
        string url = $"{baseUrl}/query?q={Uri.EscapeDataString(q)}" + (db is null ? "" : $"&db={Uri.EscapeDataString(db)}");
        using var req = new HttpRequestMessage(method, url);
        using var resp = await _http.SendAsync(req);
        string body = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"{q}: HTTP {(int)resp.StatusCode}: {body}");
        var doc = JsonDocument.Parse(body);
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
            if (method == HttpMethod.Post && r.TryGetProperty("error", out var err))
                throw new InvalidOperationException($"{q}: {err.GetString()}");
        return doc;
    }

    private static string Ident(string name) => "\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    public void Dispose() => _http.Dispose();
}
