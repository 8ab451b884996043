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

    private static string Loopback() => $"http://127.0.0.1:{DaemonProcess.FreeLoopbackPort()}";

    /// <summary>A start refused for its configuration: exit code 2 and one line naming what was wrong, no stack trace.</summary>
    private static void AssertRefused((int ExitCode, string Output) run, params string[] expected)
    {
        Assert.True(run.ExitCode == 2, $"exit code {run.ExitCode}:\n{run.Output}");
        foreach (var text in expected) Assert.Contains(text, run.Output);
        Assert.DoesNotContain("Unhandled exception", run.Output);
        Assert.DoesNotContain("   at ", run.Output);
        Assert.DoesNotContain("Now listening on", run.Output);
    }

    [Theory]
    [InlineData("--Wall:Directory=x", "Wall:Directory = 'x': unknown section 'Wall' (set from the command line as --Wall:Directory)")]
    [InlineData("--Bufer:Capacity=5", "Bufer:Capacity = '5': unknown section 'Bufer'")]
    [InlineData("--Influks:Password=hunter22", "Influks:Password = '***': unknown section 'Influks'")]
    [InlineData("--Logging:LogLevel:Default=Bogus", "Logging:LogLevel:Default = 'Bogus': expected a log level")]
    [InlineData("--Logging:Console:LogLevel:Ingest=Loud", "Logging:Console:LogLevel:Ingest = 'Loud': expected a log level")]
    [InlineData("--Redis:Configuration=127.0.0.1:notaport", "Redis:Configuration = '127.0.0.1:notaport': '127.0.0.1:notaport' is not an endpoint")]
    [InlineData("--Redis:Configuration=password=x", "Redis:Configuration = 'password=***': no endpoint given")]
    [InlineData("--Redis:Configuration=127.0.0.1:6379,bogus=1", "Redis:Configuration = '127.0.0.1:6379,bogus=1': not a StackExchange.Redis configuration string")]
    [InlineData("--Downsample:Tiers:0:Name=fast --Downsample:Tiers:0:Interval=1ms", "Downsample:Tiers:0:Interval = '1ms': must be at least 1s")]
    [InlineData("--Downsample:Tiers:0:Name=fast --Downsample:Tiers:0:Interval=999ms", "Downsample:Tiers:0:Interval = '999ms': must be at least 1s")]
    public async Task Configuration_that_cannot_work_stops_the_start_with_exit_code_2_naming_key_and_value(string settings, string expected) =>
        AssertRefused(await DaemonProcess.RunToExitAsync([.. settings.Split(' '), "--urls", Loopback()]), expected);

    [Fact]
    public async Task A_configuration_file_that_is_not_JSON_cannot_be_read_or_has_an_unknown_section_stops_the_start()
    {
        var dir = Directory.CreateTempSubdirectory("ingest-config-");
        try
        {
            var broken = Path.Combine(dir.FullName, "broken.json");
            File.WriteAllText(broken, "{\n  \"Influx\": {\n    \"Url\": \"http://127.0.0.1:8086\"\n  \n");
            AssertRefused(await DaemonProcess.RunToExitAsync("--config", broken, "--urls", Loopback()), $"configuration file {broken} is not valid JSON at line 5");

            var misspelt = Path.Combine(dir.FullName, "misspelt.json");
            File.WriteAllText(misspelt, """{ "Wall": { "Directory": "/tmp/x" } }""");
            AssertRefused(await DaemonProcess.RunToExitAsync("--config", misspelt, "--urls", Loopback()), $"Wall:Directory = '/tmp/x': unknown section 'Wall' (set in {misspelt}");

            var array = Path.Combine(dir.FullName, "array.json");
            File.WriteAllText(array, "[]");
            AssertRefused(await DaemonProcess.RunToExitAsync("--config", array, "--urls", Loopback()), $"configuration file {array} must hold a JSON object");

            // Root reads a file whatever its mode; the kernel refuses to read this one to anybody.
            var unreadable = Path.Combine(dir.FullName, "unreadable.json");
            File.WriteAllText(unreadable, "{}");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(unreadable, UnixFileMode.None);
            if (Readable(unreadable)) unreadable = "/proc/self/mem";
            AssertRefused(await DaemonProcess.RunToExitAsync("--config", unreadable, "--urls", Loopback()), $"cannot read configuration file {unreadable}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static bool Readable(string path)
    {
        try
        {
            File.ReadAllBytes(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_misspelt_section_in_an_environment_variable_is_named_as_the_variable()
    {
        var run = await DaemonProcess.RunToExitAsync(new Dictionary<string, string> { ["INGEST_Bufer__Capacity"] = "5" }, null, "--urls", Loopback());
        AssertRefused(run, "Bufer:Capacity = '5': unknown section 'Bufer' (set from the environment as INGEST_Bufer__Capacity)");

        // INGEST_PORT (./run.sh's) names no section: it passes the check, and the start fails later, on the bad value.
        var other = await DaemonProcess.RunToExitAsync(new Dictionary<string, string> { ["INGEST_PORT"] = "8186" }, null, "--urls", Loopback(), "--Influx:BatchSize=lots");
        AssertRefused(other, "Influx:BatchSize = 'lots'");
    }

    [Fact]
    public async Task A_background_service_that_fails_stops_the_daemon_with_exit_code_1_and_its_exception_logged_once()
    {
        var (exit, output) = await DaemonProcess.RunToExitAsync(DaemonProcess.Fault("background-service"), null, "--urls", Loopback(), "--Influx:Url=http://127.0.0.1:9");
        Assert.True(exit == 1, $"exit code {exit}:\n{output}");
        // It ran first: a failure at start would be a different path.
        Assert.Contains("Now listening on", output);
        Assert.Contains("FailingService failed (injected failure of a background service); stopping the daemon, exit code 1", output);
        Assert.Single(output.Split('\n'), l => l.Contains("InvalidOperationException: injected failure of a background service"));
    }

    [Fact]
    public async Task Every_way_of_asking_for_an_address_beyond_loopback_is_refused_before_binding_naming_its_key()
    {
        var port = DaemonProcess.FreeLoopbackPort();
        AssertRefused(await DaemonProcess.RunToExitAsync($"--Kestrel:Endpoints:Pub:Url=http://0.0.0.0:{port}", "--urls", Loopback()),
            $"Kestrel:Endpoints:Pub:Url = 'http://0.0.0.0:{port}'", "set by --Kestrel:Endpoints:Pub:Url", "Auth:AllowAnonymousNonLoopback");
        AssertRefused(await DaemonProcess.RunToExitAsync(new Dictionary<string, string> { ["ASPNETCORE_URLS"] = $"http://*:{port}" }, null),
            $"urls = 'http://*:{port}'", "set by the environment variable ASPNETCORE_URLS");
        AssertRefused(await DaemonProcess.RunToExitAsync("--urls", $"http://localhost:{port};http://ingest.example:{port + 1}"),
            $"http://ingest.example:{port + 1} is beyond loopback", "set by --urls");
    }

    [Fact]
    public async Task An_address_bound_beyond_loopback_by_any_means_stops_the_daemon_and_nothing_is_served_there_before()
    {
        // Kestrel is told in code to listen on every interface (no key shows it, so only the check of the bound
        // addresses can see it), and the start is held right after binding, for as long as this test probes.
        var port = DaemonProcess.FreeLoopbackPort();
        var hold = Path.Combine(Path.GetTempPath(), $"ingest-hold-{Guid.NewGuid():N}");
        var answers = new List<string>();
        try
        {
            var (exit, output) = await DaemonProcess.RunToExitAsync(DaemonProcess.Fault($"listen-any:{port}", hold), async () =>
            {
                using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                var until = DateTime.UtcNow.AddSeconds(20);
                while (answers.Count == 0 && DateTime.UtcNow < until)
                {
                    try
                    {
                        using var r = await client.GetAsync($"http://127.0.0.1:{port}/health");
                        answers.Add($"{(int)r.StatusCode} Retry-After={r.Headers.RetryAfter}");
                    }
                    catch (HttpRequestException)
                    {
                        await Task.Delay(20); // not bound yet
                    }
                }
                File.WriteAllText(hold, "");
            }, "--urls", Loopback(), "--Influx:Url=http://127.0.0.1:9");

            // Bound and reachable, yet held back: the request got the gate's answer, not /health's.
            Assert.Equal(["503 Retry-After=1"], answers);
            Assert.True(exit == 2, $"exit code {exit}:\n{output}");
            Assert.Contains($"the server is listening on http://0.0.0.0:{port}, beyond loopback, with Auth:Enabled=false", output);
            Assert.Contains("set in code or by a hosting extension", output);
        }
        finally
        {
            File.Delete(hold);
        }
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
