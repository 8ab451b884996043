using System.Net;
using System.Net.Sockets;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>The <c>udp</c> source: InfluxDB's UDP line-protocol listener, a datagram per message.</summary>
public class UdpSourceTests
{
    private const long Noon = 1714564800;

    [Fact]
    public async Task Datagrams_of_line_protocol_land_and_a_bad_one_is_counted_while_the_good_ones_land()
    {
        var port = FreeUdpPort();
        var db = ServersFixture.UniqueName("udp");
        await using var stack = await IngestStack.StartAsync(SqlSourceTests.Source("u", db, new()
        {
            ["Type"] = "udp",
            ["Listen"] = $"127.0.0.1:{port}",
            ["Precision"] = "s",
            ["ReadBuffer"] = "1048576",
        }));
        await WaitForStateAsync(stack, "u", "connected");

        using var client = new UdpClient();
        client.Connect(IPAddress.Loopback, port);
        foreach (var datagram in (string[])[
                     $"udp_m,host=a v=1 {Noon}\nudp_m,host=b v=2 {Noon + 1}",
                     "this is not line protocol",
                     $"udp_m,host=c v=3,note=\"x y\" {Noon + 2}\n"])
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(datagram));
            await Task.Delay(50);
        }

        Assert.Equal(3, await stack.Influx.WaitForCountAsync(db, "udp_m", 3, TimeSpan.FromSeconds(30)));
        var rows = await InfluxRows.QueryAsync(stack.Influx, db, "SELECT v FROM udp_m GROUP BY host");
        Assert.Equal(["a", "b", "c"], rows.Select(s => s.Tags["host"]).Order());
        Assert.Equal([Noon, Noon + 1, Noon + 2], rows.Select(s => (long)InfluxRows.Number(s.Values.Single()[0])!.Value / 1_000_000_000).Order());

        double errors = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            errors = (await DaemonApi.MetricSamplesAsync(stack, "ingest_source_decode_errors_total"))
                .Where(s => s.Line.Contains("source=\"u\"")).Sum(s => s.Value);
            return errors >= 1;
        }, TimeSpan.FromSeconds(10)), "ingest_source_decode_errors_total{source=\"u\"} stayed 0");
        Assert.Equal(1, errors);
        var status = await SqlSourceTests.SourceStatusAsync(stack, "u");
        Assert.Equal(3, status.GetProperty("messages").GetInt64());
        Assert.Equal(3, status.GetProperty("points").GetInt64());
    }

    [Fact]
    public async Task A_listener_that_cannot_bind_fails_without_stopping_the_daemon_and_binds_once_the_port_is_free()
    {
        var taken = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)taken.Client.LocalEndPoint!).Port;
        var db = ServersFixture.UniqueName("udp_bind");
        await using var stack = await IngestStack.StartAsync(SqlSourceTests.Source("busy", db, new()
        {
            ["Type"] = "udp",
            ["Listen"] = $"127.0.0.1:{port}",
        }));
        var status = await WaitForStateAsync(stack, "busy", "failed");
        Assert.Contains($"cannot listen on udp 127.0.0.1:{port}", status.GetProperty("lastError").GetString());
        using (var health = await stack.Client.GetAsync("health")) Assert.True(health.IsSuccessStatusCode);

        taken.Dispose();
        await WaitForStateAsync(stack, "busy", "connected", TimeSpan.FromSeconds(40));
        using var client = new UdpClient();
        await client.SendAsync(Encoding.UTF8.GetBytes("late v=1"), new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(1, await stack.Influx.WaitForCountAsync(db, "late", 1, TimeSpan.FromSeconds(30)));
    }

    private static async Task<System.Text.Json.JsonElement> WaitForStateAsync(IngestStack stack, string source, string state, TimeSpan? timeout = null)
    {
        System.Text.Json.JsonElement status = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            status = await SqlSourceTests.SourceStatusAsync(stack, source);
            return status.GetProperty("state").GetString() == state;
        }, timeout ?? TimeSpan.FromSeconds(20)), $"source {source} is not {state}: {status}\n{DaemonApi.Tail(stack)}");
        return status;
    }

    private static int FreeUdpPort()
    {
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
    }
}
