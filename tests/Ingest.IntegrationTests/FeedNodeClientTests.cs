using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

/// <summary>The feed as a non-.NET client sees it: Node's <c>ws</c> package (installed by <c>./run.sh test</c>).</summary>
public class FeedNodeClientTests
{
    private const string Client = """
        const WebSocket = require('ws');
        const ws = new WebSocket(process.argv[2]);
        const seen = [];
        ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: 'points', measurement: 'nodem', fields: ['v'] })));
        ws.on('message', data => {
          const m = JSON.parse(data.toString());
          seen.push(m.type);
          if (m.type === 'snapshot') console.log('READY');
          if (m.type === 'points') {
            console.log(JSON.stringify({ seen, points: m.points }));
            process.exit(0);
          }
        });
        ws.on('error', e => { console.log('error ' + e.message); process.exit(1); });
        setTimeout(() => { console.log('timeout after ' + JSON.stringify(seen)); process.exit(2); }, 15000);
        """;

    private static string NodeModules()
    {
        if (Environment.GetEnvironmentVariable("INGEST_TEST_NODE_MODULES") is { Length: > 0 } set) return set;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, ".run", "node", "node_modules", "ws"))) return Path.Combine(dir.FullName, ".run", "node", "node_modules");
        throw new InvalidOperationException("Node's ws package is not installed: run ./run.sh test, which installs it under .run/node");
    }

    [Fact]
    public async Task A_node_ws_client_subscribes_and_gets_the_snapshot_then_the_points()
    {
        var modules = NodeModules();
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string> { ["Influx:Url"] = "http://127.0.0.1:9" });
        var script = Path.Combine(Path.GetTempPath(), $"ingest-feed-{Guid.NewGuid():N}.js");
        await File.WriteAllTextAsync(script, Client);
        try
        {
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add($"ws://127.0.0.1:{daemon.Port}/ws");
            psi.Environment["NODE_PATH"] = modules;
            using var node = Process.Start(psi)!;
            var ready = await node.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.True(ready == "READY", $"node said '{ready}'");

            using var write = await daemon.Client.PostAsync("write?db=node", new StringContent("nodem,host=a v=1.5,w=2 42\nother v=1 42"));
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);

            var line = await node.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(node.ExitCode == 0, $"node exited {node.ExitCode}: {line}");
            var result = JsonDocument.Parse(line!).RootElement;
            Assert.Equal(["subscribed", "snapshot", "points"], result.GetProperty("seen").EnumerateArray().Select(x => x.GetString()));
            var point = Assert.Single(result.GetProperty("points").EnumerateArray());
            Assert.Equal("nodem", point.GetProperty("measurement").GetString());
            Assert.Equal(1.5, point.GetProperty("fields").GetProperty("v").GetDouble());
            Assert.False(point.GetProperty("fields").TryGetProperty("w", out _));
            Assert.Equal(42, point.GetProperty("time").GetInt64());
        }
        finally
        {
            File.Delete(script);
        }
    }
}
