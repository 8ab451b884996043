// ingest-feedbench: live-feed latency and idle-client cost, measured against a running daemon.
//
//   ingest-feedbench latency --url http://127.0.0.1:8186 [--clients 100] [--rate 100000] [--series 1000] [--seconds 20]
//     N clients subscribe to the points of measurement "feedbench"; a writer posts rate/100 points every 10 ms,
//     each point with a unique timestamp. For every points message a client receives, the latency is the time
//     from the 204 of the write that carried its first point to the moment the client has the message (0 when
//     the message arrived before the 204 did). Prints p50/p90/p99/max and the achieved write rate.
//
//   ingest-feedbench idle --url http://127.0.0.1:8186 [--clients 10000] [--hold 30]
//     Opens N clients that subscribe to a measurement nobody writes, holds them for --hold seconds (pinging per
//     the daemon's keep-alive) and prints the daemon's working set before and after (from /api/status).
//
//   ingest-feedbench flood --url http://127.0.0.1:8186 --pid PID [--subscriptions 200] [--series 20000] [--seconds 30]
//     One client that never reads subscribes --subscriptions times to --series live series (each answer a snapshot
//     of them all; needs Redis live state); prints the daemon's peak RSS over the attack and how it ended.
//
//   ingest-feedbench glob --url http://127.0.0.1:8186 [--pattern-length 30000] [--name-length 60000] [--points 40]
//                         [--rest-pattern-length 1000]
//     Costly globs: a feed pattern *aaa…ab against points with very long measurement names, and the same kind of
//     pattern in /api/snapshot; prints the pipeline's stall, the answers other writers got, and the timings.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

var mode = args.Length > 0 ? args[0] : "help";
string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
var url = Arg("url", "http://127.0.0.1:8186").TrimEnd('/');
var wsUrl = new Uri(url.Replace("http://", "ws://").Replace("https://", "wss://") + "/ws");
using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(120) };

switch (mode)
{
    case "latency":
        return await LatencyAsync(int.Parse(Arg("clients", "100")), int.Parse(Arg("rate", "100000")), int.Parse(Arg("series", "1000")), int.Parse(Arg("seconds", "20")));
    case "idle":
        return await IdleAsync(int.Parse(Arg("clients", "10000")), int.Parse(Arg("hold", "30")));
    case "flood":
        return await SubscribeFlood.RunAsync(http, wsUrl, int.Parse(Arg("pid", "0")), int.Parse(Arg("subscriptions", "200")),
            int.Parse(Arg("series", "20000")), int.Parse(Arg("seconds", "30")));
    case "glob":
        return await GlobAttack.RunAsync(http, wsUrl, int.Parse(Arg("pattern-length", "30000")), int.Parse(Arg("name-length", "60000")),
            int.Parse(Arg("points", "40")), int.Parse(Arg("rest-pattern-length", "1000")));
    default:
        Console.WriteLine("usage: ingest-feedbench latency|idle|flood|glob --url URL [options]; see the comment at the top of Program.cs");
        return 2;
}

async Task<ClientWebSocket> Subscribe(string measurement, string host = "*")
{
    var ws = new ClientWebSocket();
    ws.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
    await ws.ConnectAsync(wsUrl, CancellationToken.None);
    var msg = JsonSerializer.SerializeToUtf8Bytes(new { op = "subscribe", channel = "points", measurement, tags = new { host } });
    await ws.SendAsync(msg, WebSocketMessageType.Text, true, CancellationToken.None);
    return ws;
}

async Task<int> LatencyAsync(int clients, int rate, int series, int seconds)
{
    const string measurement = "feedbench";
    // Timestamp (ns) of the first point of each body -> Stopwatch ticks of its 204.
    var acked = new ConcurrentDictionary<long, long>();
    var latencies = new ConcurrentBag<double>();
    // Like dashboards, each client watches its own slice: client i the hosts h{i:D2}0 … h{i:D2}9 (with 1 000
    // series and 100 clients, 1 % of the points each); --all makes every client take every point.
    var all = args.Contains("--all");
    var sockets = await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Subscribe(measurement, all ? "*" : $"h{i % 100:D2}?")));
    using var stop = new CancellationTokenSource();
    var perBody = Math.Max(1, rate / 100);
    var origin = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
    var warmup = int.Parse(Arg("warmup", "5"));
    var warm = new ConcurrentBag<double>();
    var started = Stopwatch.GetTimestamp();
    var readers = sockets.Select(ws => Task.Run(async () =>
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                int length = 0;
                WebSocketReceiveResult r;
                do
                {
                    var vr = await ws.ReceiveAsync(buffer.AsMemory(length), stop.Token);
                    r = new WebSocketReceiveResult(vr.Count, vr.MessageType, vr.EndOfMessage);
                    length += r.Count;
                } while (!r.EndOfMessage && length < buffer.Length);
                var now = Stopwatch.GetTimestamp();
                if (r.MessageType == WebSocketMessageType.Close) return;
                using var doc = JsonDocument.Parse(buffer.AsMemory(0, length));
                if (doc.RootElement.GetProperty("type").GetString() != "points") continue;
                // The body's first timestamp keys its 204: points of one body are consecutive, so look back from
                // the message's first point to the nearest recorded body start.
                var first = doc.RootElement.GetProperty("points")[0].GetProperty("time").GetInt64();
                var key = first - (first - origin) % perBody;
                // The 204 may not be recorded yet: the feed can be faster than the answer.
                var ms = acked.TryGetValue(key, out var at) ? Math.Max(0, Stopwatch.GetElapsedTime(at, now).TotalMilliseconds) : 0;
                if (Stopwatch.GetElapsedTime(started, now).TotalSeconds >= warmup) latencies.Add(ms);
                else warm.Add(ms);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
        }
    })).ToArray();

    long ts = origin;
    long points = 0;
    var sw = Stopwatch.StartNew();
    var body = new StringBuilder();
    var next = TimeSpan.Zero;
    while (sw.Elapsed < TimeSpan.FromSeconds(seconds))
    {
        body.Clear();
        var first = ts;
        for (var i = 0; i < perBody; i++, ts++)
            body.Append(measurement).Append(",host=h").Append((i % series).ToString("D3", CultureInfo.InvariantCulture)).Append(" v=").Append(i).Append(' ').Append(ts.ToString(CultureInfo.InvariantCulture)).Append('\n');
        using var response = await http.PostAsync("write?db=feedbench", new StringContent(body.ToString()));
        acked[first] = Stopwatch.GetTimestamp();
        if ((int)response.StatusCode != 204) Console.Error.WriteLine($"write answered {(int)response.StatusCode}");
        points += perBody;
        next += TimeSpan.FromMilliseconds(10);
        var wait = next - sw.Elapsed;
        if (wait > TimeSpan.Zero) await Task.Delay(wait);
    }
    var elapsed = sw.Elapsed.TotalSeconds;
    await Task.Delay(1000);
    stop.Cancel();
    await Task.WhenAll(readers);
    foreach (var ws in sockets) ws.Abort();

    var sorted = latencies.OrderBy(x => x).ToArray();
    double P(double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    Console.WriteLine($"clients {clients}, written {points:N0} points in {elapsed:F1} s = {points / elapsed:N0} points/s, messages received {sorted.Length:N0}");
    var w = warm.OrderBy(x => x).ToArray();
    if (w.Length > 0) Console.WriteLine($"first {warmup} s (not counted): {w.Length:N0} messages, p50 {w[w.Length / 2]:F2} ms, max {w[^1]:F2} ms");
    Console.WriteLine($"latency from 204 to client receive after the first {warmup} s, ms: p50 {P(0.5):F2}  p90 {P(0.9):F2}  p99 {P(0.99):F2}  max {(sorted.Length > 0 ? sorted[^1] : double.NaN):F2}");
    return 0;
}

async Task<long> WorkingSet()
{
    using var doc = JsonDocument.Parse(await http.GetStringAsync("api/status"));
    return doc.RootElement.GetProperty("memory").GetProperty("workingSetBytes").GetInt64();
}

async Task<int> IdleAsync(int clients, int hold)
{
    var before = await WorkingSet();
    var sockets = new List<ClientWebSocket>(clients);
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < clients; i += 200)
        sockets.AddRange(await Task.WhenAll(Enumerable.Range(0, Math.Min(200, clients - i)).Select(_ => Subscribe("nobody-writes-this"))));
    Console.WriteLine($"{sockets.Count} clients connected in {sw.Elapsed.TotalSeconds:F1} s");
    // Drain the subscribed + snapshot replies so the daemon's sends complete.
    await Task.WhenAll(sockets.Select(async ws =>
    {
        var buffer = new byte[4096];
        for (var n = 0; n < 2; n++) await ws.ReceiveAsync(buffer, CancellationToken.None);
    }));
    await Task.Delay(2000);
    var during = await WorkingSet();
    Console.WriteLine($"daemon working set: {before / 1e6:F1} MB before, {during / 1e6:F1} MB with {clients} clients = {(during - before) / (double)clients / 1024:F1} KB per client");
    await Task.Delay(TimeSpan.FromSeconds(hold));
    var open = sockets.Count(s => s.State == WebSocketState.Open);
    Console.WriteLine($"after {hold} s: {open} of {clients} still open");
    foreach (var ws in sockets) ws.Abort();
    return open == clients ? 0 : 1;
}
