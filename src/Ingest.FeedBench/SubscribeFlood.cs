using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

/// <summary>
/// <c>ingest-feedbench flood</c>: one client subscribes many times to a measurement with many live series and
/// never reads, so that every answer (a snapshot of all those series) waits in the daemon. Meanwhile a second
/// client watches another measurement and a writer writes to it, to see whether they are affected. Prints the
/// daemon's peak resident set over the attack (from <c>/proc/PID/status</c>, VmHWM reset just before) and what
/// became of the attacking connection.
/// </summary>
internal static class SubscribeFlood
{
    public static async Task<int> RunAsync(HttpClient http, Uri wsUrl, int pid, int subscriptions, int series, int seconds)
    {
        const string measurement = "flood";
        await WriteSeriesAsync(http, measurement, series);
        var sw = Stopwatch.StartNew();
        while (await LiveSeriesAsync(http, measurement) < series)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"the live state never held {series} series of {measurement}");
            await Task.Delay(250);
        }
        GC.Collect();
        await Task.Delay(1000);
        var rssBefore = ProcStatus(pid, "VmRSS");
        // Writing 5 to clear_refs resets VmHWM (the peak resident set) to the current size (Linux >= 4.0).
        File.WriteAllText($"/proc/{pid}/clear_refs", "5");
        Console.WriteLine($"{series} live series of '{measurement}'; daemon RSS before the attack {rssBefore / 1e6:F0} MB");

        // A well-behaved client and writer on another measurement, to see that they are not held up.
        using var watcher = new ClientWebSocket();
        await watcher.ConnectAsync(wsUrl, CancellationToken.None);
        await SendAsync(watcher, new { op = "subscribe", channel = "points", measurement = "flood_probe" });
        using var stop = new CancellationTokenSource();
        var watched = 0;
        var watching = Task.Run(async () =>
        {
            var buffer = new byte[1 << 16];
            try
            {
                while (true)
                {
                    var r = await watcher.ReceiveAsync(buffer, stop.Token);
                    if (r.MessageType == WebSocketMessageType.Close) return;
                    if (r.EndOfMessage && Encoding.UTF8.GetString(buffer, 0, Math.Min(r.Count, 40)).Contains("\"type\":\"points\"")) Interlocked.Increment(ref watched);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        });
        int ok = 0, failed = 0;
        var writing = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var r = await http.PostAsync("write?db=flood", new StringContent($"flood_probe,host=p v={i}"), stop.Token);
                    if ((int)r.StatusCode == 204) ok++; else failed++;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    if (!stop.IsCancellationRequested) failed++;
                }
                try { await Task.Delay(100, stop.Token); } catch (OperationCanceledException) { }
            }
        });

        var attacker = new ClientWebSocket();
        await attacker.ConnectAsync(wsUrl, CancellationToken.None);
        var sent = 0;
        var sending = Task.Run(async () =>
        {
            try
            {
                for (; sent < subscriptions; sent++)
                    await SendAsync(attacker, new { op = "subscribe", channel = "points", measurement }, stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        });

        long peakSampled = 0;
        var attack = Stopwatch.StartNew();
        while (attack.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            peakSampled = Math.Max(peakSampled, ProcStatus(pid, "VmRSS"));
            await Task.Delay(100);
        }
        var hwm = ProcStatus(pid, "VmHWM");
        var rssEnd = ProcStatus(pid, "VmRSS");
        stop.Cancel();
        await Task.WhenAll(watching, writing, sending);

        // Now read what the daemon kept for the attacker: how many answers of each kind, and how it ended.
        var kinds = new Dictionary<string, int>();
        string end = "still open after reading for 5 s";
        var buffer = new byte[1 << 20];
        using (var read = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                using var message = new MemoryStream();
                while (true)
                {
                    var r = await attacker.ReceiveAsync(buffer, read.Token);
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        end = $"closed by the daemon: {r.CloseStatus} '{r.CloseStatusDescription}'";
                        break;
                    }
                    message.Write(buffer, 0, r.Count);
                    if (!r.EndOfMessage) continue;
                    using var doc = JsonDocument.Parse(message.ToArray());
                    var type = doc.RootElement.GetProperty("type").GetString() ?? "?";
                    if (type == "error" && doc.RootElement.TryGetProperty("message", out var m)) type += ": " + m.GetString();
                    kinds[type] = kinds.GetValueOrDefault(type) + 1;
                    message.SetLength(0);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (WebSocketException e)
            {
                end = $"connection gone: {e.Message}";
            }
        }
        attacker.Abort();
        Console.WriteLine($"attack: {sent} subscribe messages sent in {seconds} s");
        Console.WriteLine($"daemon RSS: before {rssBefore / 1e6:F0} MB, peak during the attack {hwm / 1e6:F0} MB (VmHWM; sampled max {peakSampled / 1e6:F0} MB), at the end {rssEnd / 1e6:F0} MB");
        Console.WriteLine($"attacker afterwards: {end}; messages it could still read: {string.Join(", ", kinds.Select(k => $"{k.Key} x{k.Value}"))}");
        Console.WriteLine($"meanwhile: writes to another measurement {ok} answered 204, {failed} not; the other client got {watched} points messages");
        return 0;
    }

    private static async Task WriteSeriesAsync(HttpClient http, string measurement, int series)
    {
        var body = new StringBuilder();
        for (var start = 0; start < series; start += 5000)
        {
            body.Clear();
            for (var i = start; i < Math.Min(series, start + 5000); i++)
                body.Append(CultureInfo.InvariantCulture, $"{measurement},host=h{i:D6},region=eu-west-{i % 3} v={i}.5,w={i}i\n");
            using var r = await http.PostAsync("write?db=flood", new StringContent(body.ToString()));
            if ((int)r.StatusCode != 204) throw new InvalidOperationException($"write answered {(int)r.StatusCode}");
        }
    }

    private static async Task<int> LiveSeriesAsync(HttpClient http, string measurement)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"api/series?measurement={measurement}"));
        return doc.RootElement.GetArrayLength();
    }

    private static Task SendAsync(ClientWebSocket ws, object message, CancellationToken ct = default) =>
        ws.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, ct);

    /// <summary>A <c>/proc/PID/status</c> size in bytes (the file gives kB).</summary>
    private static long ProcStatus(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
