using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// Report only (run with <c>--filter Category=Performance</c>): how many WebSocket messages of one point each the
/// daemon takes per second, and its CPU time per point against the same points written over HTTP /write in the
/// same session. The upstream is a bare WebSocket server on a socket of its own that answers the handshake and then
/// writes pre-built frames in 64 KB chunks, so that the test side is not what limits the rate.
/// </summary>
[Trait("Category", "Performance")]
public class WebSocketSourcePerformanceTests(ITestOutputHelper output)
{
    private const int Points = 300_000;
    private const long FirstTimestamp = 1_700_000_000_000_000_000;

    [Fact]
    public async Task WebSocket_messages_of_one_point_each_against_the_same_points_over_HTTP_write()
    {
        var lines = Enumerable.Range(0, Points).Select(i => $"perf,k=s{i % 100} v={i}i {FirstTimestamp + i}").ToArray();
        using var server = new FrameServer(lines);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        string wsDb = "perf_ws_" + suffix, httpDb = "perf_http_" + suffix;
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Sources:load:Type"] = "websocket",
            ["Sources:load:Url"] = $"ws://127.0.0.1:{server.Port}/load",
            ["Sources:load:Database"] = wsDb,
            // Nothing dropped: the daemon takes messages as fast as it admits them.
            ["Sources:load:FullPolicy"] = "backpressure",
            ["Sources:load:BufferCapacity"] = "20000",
            // The frame server does not answer pings.
            ["Sources:load:PingInterval"] = "0s",
        });
        await stack.Influx.CreateDatabaseAsync(wsDb);
        await stack.Influx.CreateDatabaseAsync(httpDb);
        Assert.True(await DaemonApi.WaitUntilAsync(() => Task.FromResult(server.Connected), TimeSpan.FromSeconds(20)), "the source never connected");
        var pid = stack.Daemon.ProcessId;

        // WebSocket.
        var cpu = CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        server.Go();
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await stack.Daemon.MetricAsync("ingest_source_messages_total{source=\"load\"}") >= Points, TimeSpan.FromSeconds(90), pollMs: 20),
            string.Join('\n', (await stack.Client.GetStringAsync("metrics")).Split('\n').Where(l => l.StartsWith("ingest_source") || l.Contains("load") || l.StartsWith("ingest_points"))) + "\n" + stack.Daemon.Output[^Math.Min(3000, stack.Daemon.Output.Length)..] + $"{await stack.Daemon.MetricAsync("ingest_source_messages_total{source=\"load\"}")} messages taken of {Points}, {server.Connections} connections");
        var wsTaken = clock.Elapsed;
        var wsTakenCpu = CpuSeconds(pid) - cpu;
        Assert.Equal(Points, await stack.Influx.WaitForCountAsync(wsDb, "perf", Points, TimeSpan.FromMinutes(3)));
        var wsLanded = clock.Elapsed;
        var wsCpu = CpuSeconds(pid) - cpu;

        // The same points over HTTP /write, 5000 lines a request.
        cpu = CpuSeconds(pid);
        clock.Restart();
        foreach (var chunk in lines.Chunk(5000))
        {
            using var answer = await stack.Client.PostAsync($"write?db={httpDb}", new StringContent(string.Join('\n', chunk)));
            Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        }
        var httpTaken = clock.Elapsed;
        var httpTakenCpu = CpuSeconds(pid) - cpu;
        Assert.Equal(Points, await stack.Influx.WaitForCountAsync(httpDb, "perf", Points, TimeSpan.FromMinutes(3)));
        var httpLanded = clock.Elapsed;
        var httpCpu = CpuSeconds(pid) - cpu;

        output.WriteLine($"{Points} points, one per WebSocket message: taken in {wsTaken.TotalSeconds:F2} s = {Points / wsTaken.TotalSeconds:F0} messages/s; " +
                         $"daemon CPU {wsTakenCpu:F2} s until taken ({wsTakenCpu / Points * 1e6:F2} µs/point), {wsCpu:F2} s until all in InfluxDB after {wsLanded.TotalSeconds:F2} s ({wsCpu / Points * 1e6:F2} µs/point)");
        output.WriteLine($"Same points over HTTP /write, 5000 lines a request: accepted in {httpTaken.TotalSeconds:F2} s = {Points / httpTaken.TotalSeconds:F0} points/s; " +
                         $"daemon CPU {httpTakenCpu:F2} s until accepted ({httpTakenCpu / Points * 1e6:F2} µs/point), {httpCpu:F2} s until all in InfluxDB after {httpLanded.TotalSeconds:F2} s ({httpCpu / Points * 1e6:F2} µs/point)");
        output.WriteLine($"CPU per point, WebSocket / HTTP (until in InfluxDB): {wsCpu / httpCpu:F2}");
    }

    /// <summary>utime + stime of <paramref name="pid"/> from /proc/&lt;pid&gt;/stat, in seconds (clock ticks of 10 ms).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After the command: state is field 3, utime 14 and stime 15 (1-based), so indexes 11 and 12 here.
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
    }

    /// <summary>
    /// A WebSocket server for one client: answers the opening handshake, then on <see cref="Go"/> writes every line
    /// as one unmasked text frame, the frames built beforehand and written 64 KB at a time; what the client sends
    /// is read and ignored.
    /// </summary>
    private sealed class FrameServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly TaskCompletionSource _go = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly byte[] _frames;
        private volatile bool _connected;
        private int _connections;

        public int Connections => Volatile.Read(ref _connections);

        public FrameServer(IEnumerable<string> lines)
        {
            var all = new MemoryStream();
            foreach (var line in lines)
            {
                var payload = Encoding.UTF8.GetBytes(line);
                all.WriteByte(0x81);
                if (payload.Length < 126) all.WriteByte((byte)payload.Length);
                else
                {
                    all.WriteByte(126);
                    all.WriteByte((byte)(payload.Length >> 8));
                    all.WriteByte((byte)payload.Length);
                }
                all.Write(payload);
            }
            _frames = all.ToArray();
            _listener.Start();
            _ = ServeAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public bool Connected => _connected;

        public void Go() => _go.TrySetResult();

        private async Task ServeAsync()
        {
            using var client = await _listener.AcceptTcpClientAsync();
            Interlocked.Increment(ref _connections);
            client.NoDelay = true;
            var stream = client.GetStream();
            var request = new StringBuilder();
            var buffer = new byte[4096];
            while (!request.ToString().Contains("\r\n\r\n"))
            {
                var n = await stream.ReadAsync(buffer);
                if (n == 0) return;
                request.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            var key = request.ToString().Split("\r\n").First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))["Sec-WebSocket-Key:".Length..].Trim();
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"));
            _connected = true;
            _ = Task.Run(async () =>
            {
                try
                {
                    while (await stream.ReadAsync(buffer) > 0)
                    {
                    }
                }
                catch (IOException)
                {
                }
            });
            await _go.Task;
            for (var at = 0; at < _frames.Length; at += 64 * 1024)
                await stream.WriteAsync(_frames.AsMemory(at, Math.Min(64 * 1024, _frames.Length - at)));
            await Task.Delay(Timeout.Infinite);
        }

        public void Dispose() => _listener.Stop();
    }
}
