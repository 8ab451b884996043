using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

/// <summary>A daemon of its own, so that the points it accepts can be counted exactly on /metrics.</summary>
public sealed class LoneDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    // Nothing listens on the sink's port: these tests are about answers, not delivery.
    public async Task InitializeAsync() =>
        Daemon = await DaemonProcess.StartAsync(new Dictionary<string, string> { ["Influx:Url"] = "http://127.0.0.1:9" });

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

/// <summary>
/// Error messages quote the client's lines and parameters; the <c>X-Influxdb-Error</c> header that repeats
/// them must still be a valid header (Kestrel refuses control and non-ASCII characters, and the answer then
/// turns into an empty 500 after the good lines were kept, which a retrying client counts twice).
/// </summary>
public class ErrorHeaderTests(LoneDaemon fixture) : IClassFixture<LoneDaemon>
{
    private DaemonProcess Daemon => fixture.Daemon;

    // Query (already escaped as it goes on the wire), body, expected status, text the message must hold, good lines.
    public static TheoryData<string, string, string, int> V1Cases => new()
    {
        { "write?db=h", "ok v=1 1\ncpu,lieu=Zürich v=bad 2\n", "cpu,lieu=Zürich v=bad 2", 1 },
        { "write?db=h", "ok v=1 1\ncpu\u0001 v=bad 2\n", "cpu\u0001 v=bad 2", 1 },
        { "write?db=h", "ok v=1 1\ncpu\tx v=bad 2\n", "cpu\tx v=bad 2", 1 },
        { "write?db=h", "cpu v=bad 2\n", "unable to parse 'cpu v=bad 2'", 0 },
        { "write?db=m%C3%A9trique", "ok v=1 1\ncpu v=bad 2\n", "for database: métrique", 1 },
        { "write?db=a%01b%0D%0AX-Injected:%20yes", "ok v=1 1\ncpu v=bad 2\n", "for database: a\u0001b\r\nX-Injected: yes", 1 },
        { "write?db=h&rp=r%C3%A9tention%7F", "ok v=1 1\ncpu v=bad 2\n", "for retention policy: rétention\u007F", 1 },
        { "write?db=h&precision=%C3%A9", "ok v=1 1\n", "invalid precision \"é\"", 0 },
        { "write?db=h&precision=s%0A", "ok v=1 1\n", "invalid precision \"s\n\"", 0 },
        { "write?db=h&consistency=%E2%9C%93", "ok v=1 1\n", "invalid consistency \"✓\"", 0 },
    };

    [Theory]
    [MemberData(nameof(V1Cases))]
    public async Task V1_error_with_any_characters_is_a_400_whose_header_is_encoded_and_body_exact(
        string query, string body, string quoted, int goodLines)
    {
        var before = await AcceptedAsync("/write");
        using var r = await Daemon.Client.PostAsync(query, new ByteArrayContent(Encoding.UTF8.GetBytes(body)));

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var message = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;
        Assert.Contains(quoted, message);
        var header = r.Headers.GetValues("X-Influxdb-Error").Single();
        Assert.All(header, c => Assert.InRange(c, ' ', '~'));
        Assert.Equal(message, Uri.UnescapeDataString(header));
        Assert.False(r.Headers.Contains("X-Injected"));
        Assert.Equal(before + goodLines, await AcceptedAsync("/write"));
    }

    public static TheoryData<string, string, string, int> V2Cases => new()
    {
        { "api/v2/write?bucket=b%C3%BCcket&org=o", "ok v=1 1\ncpu v=bad 2\n", "cpu v=bad 2", 1 },
        { "api/v2/write?bucket=b&org=%C3%B6rg%01", "ok v=1 1\ncpu,lieu=Zürich v=bad 2\n", "cpu,lieu=Zürich v=bad 2", 1 },
        { "api/v2/write?bucket=b%0A&org=o&precision=%C3%A9", "ok v=1 1\n", "invalid precision", 0 },
    };

    [Theory]
    [MemberData(nameof(V2Cases))]
    public async Task V2_error_with_any_characters_is_a_400_with_its_code_header_and_exact_body(
        string query, string body, string quoted, int goodLines)
    {
        var before = await AcceptedAsync("/api/v2/write");
        using var r = await Daemon.Client.PostAsync(query, new ByteArrayContent(Encoding.UTF8.GetBytes(body)));

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("invalid", json.GetProperty("code").GetString());
        Assert.Contains(quoted, json.GetProperty("message").GetString());
        Assert.Equal("invalid", r.Headers.GetValues("X-Platform-Error-Code").Single());
        Assert.Equal(before + goodLines, await AcceptedAsync("/api/v2/write"));
    }

    [Fact]
    public async Task A_long_message_is_cut_to_1024_header_characters_without_splitting_an_escape()
    {
        // A database name of 400 two-byte characters: 2 400 characters once escaped, cut to 1024.
        var db = Uri.EscapeDataString(new string('é', 400));
        using var r = await Daemon.Client.PostAsync($"write?db={db}", new ByteArrayContent("ok v=1 1\ncpu v=bad 2\n"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var message = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;
        var header = r.Headers.GetValues("X-Influxdb-Error").Single();
        Assert.InRange(header.Length, 1000, 1024);
        Assert.StartsWith(Uri.UnescapeDataString(header), message);
        Assert.DoesNotContain('\uFFFD', Uri.UnescapeDataString(header));
    }

    private async Task<long> AcceptedAsync(string endpoint) =>
        (long)await Daemon.MetricAsync($"ingest_points_accepted_total{{endpoint=\"{endpoint}\"}}");
}
