using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

public class StartupTests
{
    [Theory]
    [InlineData("--Influx:BatchSize=lots", "Influx:BatchSize = 'lots'")]
    [InlineData("--Influx:ApiVersion=7", "Influx:ApiVersion = '7'")]
    [InlineData("--Buffer:FullWaitTimeout=forever", "Buffer:FullWaitTimeout = 'forever'")]
    [InlineData("--Influx:Databse=x", "unknown configuration key Influx:Databse")]
    public async Task Bad_configuration_stops_the_start_naming_key_and_value(string arg, string expected)
    {
        var (exit, output) = await DaemonProcess.RunToExitAsync(arg, "--urls", $"http://127.0.0.1:{DaemonProcess.FreeLoopbackPort()}");
        Assert.Equal(2, exit);
        Assert.Contains(expected, output);
    }

    [Fact]
    public async Task Bad_value_from_an_environment_variable_is_named_by_its_key()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(DaemonProcess.DaemonDll);
        psi.Environment["INGEST_Influx__Url"] = "not a url";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("Influx:Url = 'not a url'", err);
    }
}

public class AuthTests : IAsyncLifetime
{
    private const string Token = "s3cret-token";
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        var (exit, hash) = await DaemonProcess.RunToExitAsync("hash-token", Token);
        Assert.Equal(0, exit);
        _daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9", // nothing listens: auth is decided before any delivery
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "telegraf",
            ["Auth:Tokens:0:Sha256"] = hash.Trim(),
        });
    }

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private async Task<HttpResponseMessage> Write(string path, Action<HttpRequestMessage>? auth = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("a v=1") };
        auth?.Invoke(request);
        return await _daemon.Client.SendAsync(request);
    }

    [Fact]
    public async Task Write_without_credentials_is_401_with_www_authenticate()
    {
        using var r = await Write("write?db=x");
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.True(r.Headers.WwwAuthenticate.Count > 0);
        Assert.Contains("authorization failed", await r.Content.ReadAsStringAsync());
        using var v2 = await Write("api/v2/write?bucket=x");
        Assert.Equal(HttpStatusCode.Unauthorized, v2.StatusCode);
        Assert.Contains("unauthorized", await v2.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Wrong_token_is_401()
    {
        using var r = await Write("write?db=x", m => m.Headers.Authorization = new AuthenticationHeaderValue("Token", "nope"));
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
    }

    [Fact]
    public async Task Every_influxdb_credential_form_is_accepted()
    {
        using (var r = await Write("api/v2/write?bucket=x", m => m.Headers.Authorization = new AuthenticationHeaderValue("Token", Token)))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await Write("write?db=x", m => m.Headers.Authorization = new AuthenticationHeaderValue("Token", "telegraf:" + Token)))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await Write("write?db=x", m => m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token)))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await Write("write?db=x", m => m.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("telegraf:" + Token)))))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await Write($"write?db=x&u=telegraf&p={Token}"))
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
    }

    [Fact]
    public async Task Ping_health_and_metrics_stay_open()
    {
        foreach (var path in new[] { "ping", "health", "metrics" })
        {
            using var r = await _daemon.Client.GetAsync(path);
            Assert.True(r.IsSuccessStatusCode, $"{path} answered {(int)r.StatusCode}");
        }
    }
}
