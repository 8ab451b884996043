using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests.Oracle;

/// <summary>The daemon endpoints the oracle tests use, failing with the daemon's answer and log tail.</summary>
public static class DaemonApi
{
    /// <summary>POST /write?db=… (precision ns) in requests of <paramref name="perRequest"/> lines; every one must be 204.</summary>
    public static async Task WriteAsync(IngestStack stack, string db, IEnumerable<string> lines, int perRequest = 50)
    {
        foreach (var chunk in lines.Chunk(perRequest))
        {
            using var r = await stack.Client.PostAsync($"write?db={Uri.EscapeDataString(db)}",
                new StringContent(string.Join('\n', chunk) + "\n", Encoding.UTF8, "text/plain"));
            if (r.StatusCode != HttpStatusCode.NoContent)
                throw new Xunit.Sdk.XunitException($"POST /write answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}\n" +
                                                   $"first line: {chunk[0]}\n{Tail(stack)}");
        }
    }

    /// <summary>POST /api/pipeline/flush: closes and writes every open downsampling window now.</summary>
    /// <returns>The answer's body, for messages.</returns>
    public static async Task<string> FlushAsync(IngestStack stack)
    {
        using var r = await stack.Client.PostAsync("api/pipeline/flush", new ByteArrayContent([]));
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode)
            throw new Xunit.Sdk.XunitException($"POST /api/pipeline/flush answered {(int)r.StatusCode}: {body}\n{Tail(stack)}");
        return body;
    }

    /// <summary>GET /api/alerts: the active alerts (a JSON array).</summary>
    public static async Task<JsonElement[]> ActiveAlertsAsync(IngestStack stack)
    {
        using var r = await stack.Client.GetAsync("api/alerts");
        var body = await r.Content.ReadAsStringAsync();
        if (r.StatusCode != HttpStatusCode.OK)
            throw new Xunit.Sdk.XunitException($"GET /api/alerts answered {(int)r.StatusCode}: {body}\n{Tail(stack)}");
        var root = JsonDocument.Parse(body).RootElement.Clone();
        // Accept a bare array or an object wrapping one ({"alerts": [...]}) so the failure is about content, not shape.
        if (root.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in root.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Array) return p.Value.EnumerateArray().ToArray();
            throw new Xunit.Sdk.XunitException($"GET /api/alerts: expected a JSON array, got {body}");
        }
        return root.EnumerateArray().ToArray();
    }

    /// <summary>A property by name, ignoring case (rule / Rule, seriesKey / SeriesKey).</summary>
    public static string? Prop(JsonElement o, string name)
    {
        foreach (var p in o.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
                return p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText();
        return null;
    }

    /// <summary>
    /// The sample lines of /metrics with <paramref name="word"/> as a word in the metric name or a label
    /// (<c>…_late_total</c>, <c>reason="late"</c>, not <c>latency</c>), with their values.
    /// </summary>
    public static async Task<List<(string Line, double Value)>> MetricSamplesAsync(IngestStack stack, string word)
    {
        var pattern = new System.Text.RegularExpressions.Regex($"(^|[^a-z]){System.Text.RegularExpressions.Regex.Escape(word)}([^a-z]|$)",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        var text = await stack.Client.GetStringAsync("metrics");
        var samples = new List<(string, double)>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int end = line.LastIndexOf('}') is > 0 and var brace ? brace + 1 : line.IndexOf(' ');
            if (end <= 0 || !pattern.IsMatch(line[..end])) continue;
            var parts = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                samples.Add((line, v));
        }
        return samples;
    }

    /// <summary>For failure messages: the late-drop samples of /metrics and the downsample part of GET /api/status.</summary>
    public static async Task<string> DownsampleDiagnosticsAsync(IngestStack stack)
    {
        var late = await MetricSamplesAsync(stack, "late");
        string status;
        try
        {
            var root = JsonDocument.Parse(await stack.Client.GetStringAsync("api/status")).RootElement;
            status = root.TryGetProperty("downsample", out var d) ? d.GetRawText() : root.GetRawText();
        }
        catch (Exception e) when (e is HttpRequestException or JsonException)
        {
            status = e.Message;
        }
        return $"late-drop samples: [{string.Join(" | ", late.Select(l => l.Line))}]; GET /api/status downsample: {status}";
    }

    /// <summary>Polls until <paramref name="done"/> holds or the timeout passes; returns whether it held.</summary>
    public static async Task<bool> WaitUntilAsync(Func<Task<bool>> done, TimeSpan timeout, int pollMs = 150)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await done()) return true;
            if (DateTime.UtcNow >= until) return false;
            await Task.Delay(pollMs);
        }
    }

    /// <summary>Number of rows of <c>SELECT field FROM measurement</c> (optionally filtered); 0 before the database exists.</summary>
    public static async Task<long> CountAsync(InfluxServer influx, string db, string measurement, string field, string? where = null)
    {
        var rows = await InfluxRows.QueryAsync(influx, db,
            $"SELECT count({InfluxServer.QuoteIdentifier(field)}) FROM {InfluxServer.QuoteIdentifier(measurement)}{(where is null ? "" : " WHERE " + where)}");
        return rows.Sum(s => s.Values.Sum(r => (long)(InfluxRows.Number(r[1]) ?? 0)));
    }

    public static string Tail(IngestStack stack, int lines = 40)
    {
        var all = stack.Daemon.Output.Split('\n');
        return "daemon log tail:\n" + string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}
