using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The daemon's output, at every level, never carries a credential: not the clients' (query parameters, every
/// Authorization form, valid or not) and not its own towards InfluxDB. The config file has no Logging section,
/// as <see cref="DaemonProcess"/> writes it.
/// </summary>
[Collection(ServersCollection.Name)]
public class LogRedactionTests(ServersFixture servers)
{
    private const string Secret = "client-secret-5c1e", Wrong = "wrong-secret-77a0";
    private const string OutgoingPassword = "influx-password-9d2b", OutgoingToken = "influx-token-41f3";

    private static async Task<string> Hash(string secret) => (await DaemonProcess.RunToExitAsync("hash-token", secret)).Output.Trim();

    private static async Task<bool> OutputContains(DaemonProcess daemon, string text) =>
        await DaemonApi.WaitUntilAsync(() => Task.FromResult(daemon.Output.Contains(text, StringComparison.Ordinal)), TimeSpan.FromSeconds(20));

    [Fact]
    public async Task Credentials_never_reach_the_output_even_at_trace_level()
    {
        var db = ServersFixture.UniqueName("redact");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = servers.Influx.Url,
            ["Influx:FlushInterval"] = "50ms",
            ["Influx:Username"] = "ingest",
            ["Influx:Password"] = OutgoingPassword,
            ["Influx:Token"] = OutgoingToken,
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "telegraf",
            ["Auth:Tokens:0:Sha256"] = await Hash(Secret),
            ["Auth:Tokens:0:Scopes:0"] = "write",
            ["Auth:Tokens:0:Scopes:1"] = "read",
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Trace",
        });

        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:" + Secret));
        var accepted = new (string Path, AuthenticationHeaderValue? Header)[]
        {
            ($"write?db={db}&u=bob&p={Secret}", null),
            ($"write?db={db}&u=bob&P={Secret}", null),
            ($"write?db={db}&%70={Secret}", null),
            ($"write?db={db}", new("Token", Secret)),
            ($"write?db={db}", new("Token", "bob:" + Secret)),
            ($"write?db={db}", new("Bearer", Secret)),
            ($"write?db={db}", new("Basic", basic)),
        };
        for (var i = 0; i < accepted.Length; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, accepted[i].Path) { Content = new StringContent($"redact n={i} {1_700_000_000_000_000_000L + i}") };
            request.Headers.Authorization = accepted[i].Header;
            using var response = await daemon.Client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"{accepted[i].Path} {accepted[i].Header?.Scheme}: {(int)response.StatusCode}");
        }
        using (var status = await daemon.Client.GetAsync($"api/status?token={Secret}")) Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        using (var refused = await daemon.Client.PostAsync($"write?db={db}&u=bob&p={Wrong}", new StringContent("redact n=-1"))) Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using (var refused = await daemon.Client.GetAsync($"api/status?TOKEN={Wrong}")) Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        // The sink's writes (with u, p and the token) were sent once the points are in InfluxDB; the request for the
        // marker is logged after all of that, so once it shows, every line that could hold a secret is out.
        Assert.Equal(accepted.Length, await servers.Influx.WaitForCountAsync(db, "redact", accepted.Length, TimeSpan.FromSeconds(30)));
        var marker = Guid.NewGuid().ToString("N");
        using (var health = await daemon.Client.GetAsync($"health?marker={marker}")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.True(await OutputContains(daemon, $"marker={marker}"), daemon.Output);

        var output = daemon.Output;
        foreach (var secret in new[] { Secret, basic, Wrong, OutgoingPassword, OutgoingToken })
            Assert.False(output.Contains(secret, StringComparison.Ordinal), $"the output holds '{secret}':\n" + string.Join('\n', output.Split('\n').Where(l => l.Contains(secret))));
        // The lines are there, redacted: this is not a logger that simply stayed silent.
        Assert.Contains($"/write?db={db}&u=bob&p=*** ", output);
        Assert.Contains("/api/status?token=*** ", output);
        Assert.Contains("Start processing HTTP request POST", output);
    }

    [Fact]
    public async Task Without_a_Logging_section_requests_served_and_sent_are_not_logged()
    {
        var db = ServersFixture.UniqueName("quiet");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = servers.Influx.Url,
            ["Influx:FlushInterval"] = "50ms",
            // One category of the daemon's own turned up, to log a marker after the requests below.
            ["Logging:LogLevel:Ingest.Sources.Http.WriteTelemetry"] = "Debug",
        });
        // The probe's first ping goes through the same HttpClient before it logs that InfluxDB is reachable.
        Assert.True(await OutputContains(daemon, "is reachable"), daemon.Output);

        using (var write = await daemon.Client.PostAsync($"write?db={db}&u=bob&p={Secret}", new StringContent("quiet v=1 1700000000000000000")))
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
        Assert.Equal(1, await servers.Influx.WaitForCountAsync(db, "quiet", 1, TimeSpan.FromSeconds(30)));
        using (var bad = await daemon.Client.PostAsync($"write?db={db}", new StringContent("marker-line-without-fields")))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.True(await OutputContains(daemon, "marker-line-without-fields"), daemon.Output);

        var output = daemon.Output;
        Assert.DoesNotContain("Start processing HTTP request", output);
        Assert.DoesNotContain("Request starting", output);
        Assert.DoesNotContain(Secret, output);
        Assert.Contains("Now listening on", output);
    }
}
