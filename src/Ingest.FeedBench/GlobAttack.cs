using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

/// <summary>
/// <c>ingest-feedbench glob</c>: the two costly-glob attacks. A feed client subscribes with a long pattern
/// (<c>*aaa…ab</c>, --pattern-length) and points with very long measurement names (--name-length) are written,
/// while a probe writer keeps writing elsewhere: prints how long the transform runner stood still, what the probe
/// writes were answered, and when a marker point written after the attack reached a second feed client. Then
/// <c>/api/snapshot?measurement=*aaa…ab</c> (--rest-pattern-length) over those series, timed.
/// </summary>
internal static class GlobAttack
{
    public static async Task<int> RunAsync(HttpClient http, Uri wsUrl, int patternLength, int nameLength, int points, int restPatternLength)
    {
        var pattern = "*" + new string('a', patternLength - 2) + "b";
        using var attacker = new ClientWebSocket();
        await attacker.ConnectAsync(wsUrl, CancellationToken.None);
        await SendAsync(attacker, new { op = "subscribe", channel = "points", measurement = pattern });
        var answer = await ReceiveAsync(attacker, TimeSpan.FromSeconds(10));
        Console.WriteLine($"subscribe with a {pattern.Length}-character pattern: {Describe(answer)}");

        using var marker = new ClientWebSocket();
        await marker.ConnectAsync(wsUrl, CancellationToken.None);
        await SendAsync(marker, new { op = "subscribe", channel = "points", measurement = "glob_marker" });
        await ReceiveAsync(marker, TimeSpan.FromSeconds(10));
        await ReceiveAsync(marker, TimeSpan.FromSeconds(10));

        // The probe writer: 1 000 points every 50 ms to another measurement.
        using var stop = new CancellationTokenSource();
        var statuses = new ConcurrentDictionary<int, int>();
        double slowestMs = 0;
        var probeBody = new StringBuilder();
        for (var i = 0; i < 1000; i++) probeBody.Append("glob_probe,host=h").Append(i).Append(" v=1\n");
        var probe = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var r = await http.PostAsync("write?db=glob", new StringContent(probeBody.ToString()));
                    statuses.AddOrUpdate((int)r.StatusCode, 1, (_, n) => n + 1);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    statuses.AddOrUpdate(0, 1, (_, n) => n + 1);
                }
                slowestMs = Math.Max(slowestMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                try { await Task.Delay(50, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        // The feed branch's progress: the longest time the feed's received count stood still while the probe kept writing.
        double longestStallMs = 0;
        var watch = Task.Run(async () =>
        {
            long last = -1;
            var since = Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                var received = await FeedReceivedAsync(http);
                var now = Stopwatch.GetTimestamp();
                if (received != last) { last = received; since = now; }
                longestStallMs = Math.Max(longestStallMs, Stopwatch.GetElapsedTime(since, now).TotalMilliseconds);
                try { await Task.Delay(100, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        await Task.Delay(1000);

        var body = new StringBuilder();
        for (var i = 0; i < points; i++) body.Append('a', nameLength).Append('_').Append(i).Append(",host=x v=1\n");
        var attackStarted = Stopwatch.StartNew();
        using (var r = await http.PostAsync("write?db=glob", new StringContent(body.ToString())))
            Console.WriteLine($"{points} points with {nameLength}-character measurement names written: {(int)r.StatusCode} after {attackStarted.Elapsed.TotalMilliseconds:F0} ms");
        var markerWritten = Stopwatch.StartNew();
        using (var r = await http.PostAsync("write?db=glob", new StringContent("glob_marker v=1")))
            Console.WriteLine($"marker written: {(int)r.StatusCode}");
        string markerResult;
        try
        {
            while (true)
            {
                var m = await ReceiveAsync(marker, TimeSpan.FromSeconds(120));
                if (m.GetProperty("type").GetString() == "points") break;
            }
            markerResult = $"reached the other feed client {markerWritten.Elapsed.TotalMilliseconds:F0} ms after its write";
        }
        catch (OperationCanceledException)
        {
            markerResult = "did not reach the other feed client within 120 s";
        }
        Console.WriteLine($"marker {markerResult}");
        await Task.Delay(2000);
        stop.Cancel();
        await Task.WhenAll(probe, watch);
        Console.WriteLine($"transform runner: longest stall {longestStallMs:F0} ms; probe writes: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x{s.Value}"))}, slowest {slowestMs:F0} ms");

        // The REST attack over the same long-named series, once the live state holds them.
        await Task.Delay(1000);
        var restPattern = "*" + new string('a', restPatternLength - 2) + "b";
        var timer = Stopwatch.StartNew();
        using (var r = await http.GetAsync("api/snapshot?measurement=" + restPattern))
        {
            var text = await r.Content.ReadAsStringAsync();
            Console.WriteLine($"GET /api/snapshot?measurement=<{restPattern.Length}-character pattern>: {(int)r.StatusCode} in {timer.Elapsed.TotalMilliseconds:F0} ms: {(text.Length > 200 ? text[..200] + "…" : text)}");
        }
        using (var doc = JsonDocument.Parse(await http.GetStringAsync("api/series?measurement=aaaa*")))
            Console.WriteLine($"(long-named series in the live state: {doc.RootElement.GetArrayLength()})");
        return 0;
    }

    private static string Describe(JsonElement m) =>
        m.GetProperty("type").GetString() + (m.TryGetProperty("message", out var text) ? ": " + text.GetString() : "");

    private static async Task<long> FeedReceivedAsync(HttpClient http)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync("api/status"));
        foreach (var s in doc.RootElement.GetProperty("stages").EnumerateArray())
            if (s.GetProperty("name").GetString() == "feed") return s.GetProperty("received").GetInt64();
        return -1;
    }

    private static Task SendAsync(ClientWebSocket ws, object message) =>
        ws.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket ws, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        WebSocketReceiveResult r;
        do
        {
            r = await ws.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) throw new WebSocketException($"closed: {r.CloseStatus} {r.CloseStatusDescription}");
            message.Write(buffer, 0, r.Count);
        } while (!r.EndOfMessage);
        return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
    }
}
