using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Xunit.Abstractions;

namespace Ingest.IntegrationTests;

/// <summary>
/// The status page at <c>/</c>: its committed bundle is what its sources build, the daemon serves it without
/// credentials next to its other endpoints, and in a real browser (headless Chromium driven by puppeteer-core,
/// which <c>./run.sh test</c> installs) it follows a series, acknowledges an alert and polls /api/status gently.
/// </summary>
public class StatusPageTests(ITestOutputHelper log)
{
    private static string PageDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "clients", "status-page", "package.json"))) return Path.Combine(dir.FullName, "clients", "status-page");
        throw new InvalidOperationException("clients/status-page not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The page's npm packages (esbuild, puppeteer-core), installed by <c>npm ci</c> in clients/status-page.</summary>
    private static string PageNodeModules()
    {
        var modules = Environment.GetEnvironmentVariable("INGEST_STATUS_PAGE_NODE_MODULES") is { Length: > 0 } set ? set : Path.Combine(PageDirectory(), "node_modules");
        if (!Directory.Exists(Path.Combine(modules, "puppeteer-core")) || !Directory.Exists(Path.Combine(modules, "esbuild")))
            throw new InvalidOperationException($"the status page's npm packages are not in {modules}: run ./run.sh test (npm ci in clients/status-page)");
        return modules;
    }

    private static async Task<(int ExitCode, string Output)> RunNode(TimeSpan timeout, IDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = PageDirectory() };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.Environment["NODE_PATH"] = PageNodeModules();
        using var node = Process.Start(psi)!;
        var output = new StringBuilder();
        node.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        node.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        node.BeginOutputReadLine();
        node.BeginErrorReadLine();
        try
        {
            await node.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            node.Kill(entireProcessTree: true);
            lock (output) return (-1, $"node ran over {timeout}:\n{output}");
        }
        node.WaitForExit();
        lock (output) return (node.ExitCode, output.ToString());
    }

    [Fact]
    public async Task The_committed_page_is_what_its_sources_build()
    {
        var (exit, output) = await RunNode(TimeSpan.FromSeconds(60), new Dictionary<string, string>(), "scripts/build.mjs", "--check");
        Assert.True(exit == 0, output);
    }

    [Fact]
    public async Task The_daemon_serves_the_page_without_credentials_and_keeps_its_endpoints()
    {
        const string token = "status-page-admin";
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Auth:Enabled"] = "true",
            ["Auth:Tokens:0:Name"] = "ops",
            ["Auth:Tokens:0:Sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token))),
            ["Auth:Tokens:0:Scopes:0"] = "admin",
        });
        var client = daemon.Client;

        using var index = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.True(index.Headers.CacheControl?.NoCache, index.Headers.CacheControl?.ToString());
        Assert.Contains("default-src 'self'", index.Headers.GetValues("Content-Security-Policy").Single());
        var html = await index.Content.ReadAsStringAsync();
        Assert.Equal(html, await client.GetStringAsync("/index.html"));

        // The bundle as index.html names it (versioned: kept for good), and as a bare name (checked every time).
        foreach (var (name, type) in new[] { ("app.js", "text/javascript"), ("app.css", "text/css") })
        {
            var versioned = System.Text.RegularExpressions.Regex.Match(html, Regex(name) + @"\?v=[0-9a-f]{16}").Value;
            Assert.False(string.IsNullOrEmpty(versioned), $"index.html does not name {name}: {html}");
            using var asset = await client.GetAsync("/" + versioned);
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.Equal(type, asset.Content.Headers.ContentType?.MediaType);
            var cache = asset.Headers.CacheControl!;
            Assert.True(cache.Public && cache.MaxAge == TimeSpan.FromDays(365) && cache.Extensions.Any(e => e.Name == "immutable"), cache.ToString());
            Assert.Equal("nosniff", asset.Headers.GetValues("X-Content-Type-Options").Single());
            using var bare = await client.GetAsync("/" + name);
            Assert.True(bare.Headers.CacheControl?.NoCache, bare.Headers.CacheControl?.ToString());
            using var stale = await client.GetAsync($"/{name}?v=0000000000000000");
            Assert.True(stale.Headers.CacheControl?.NoCache, stale.Headers.CacheControl?.ToString());
        }

        // The endpoints are as they were: open ones open, the API behind the token.
        using (var ping = await client.GetAsync("/ping")) Assert.Equal(HttpStatusCode.NoContent, ping.StatusCode);
        using (var health = await client.GetAsync("/health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var metrics = await client.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("ingest_", await metrics.Content.ReadAsStringAsync());
        }
        using (var status = await client.GetAsync("/api/status")) Assert.Equal(HttpStatusCode.Unauthorized, status.StatusCode);
        using (var ws = await client.GetAsync("/ws")) Assert.Equal(HttpStatusCode.BadRequest, ws.StatusCode); // not an upgrade
        using (var write = await client.PostAsync("/write?db=x", new StringContent("a v=1"))) Assert.Equal(HttpStatusCode.Unauthorized, write.StatusCode);
        using (var missing = await client.GetAsync("/nothing-here.js")) Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/status"))
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var status = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
            Assert.Equal("application/json", status.Content.Headers.ContentType?.MediaType);
        }
    }

    private static string Regex(string s) => System.Text.RegularExpressions.Regex.Escape(s);

    [Fact]
    public async Task In_a_browser_the_page_follows_a_series_acknowledges_an_alert_and_polls_status_gently()
    {
        PageNodeModules();
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string>
        {
            ["Thresholds:Rules:0:Name"] = "page_hot",
            ["Thresholds:Rules:0:Measurement"] = "pagetemp",
            ["Thresholds:Rules:0:Field"] = "value",
            ["Thresholds:Rules:0:Direction"] = "above",
            ["Thresholds:Rules:0:Crit"] = "90",
            ["Thresholds:Rules:0:For"] = "0s",
        });
        var environment = new Dictionary<string, string> { ["INGEST_URL"] = stack.Daemon.Url.ToString().TrimEnd('/') };
        if (Environment.GetEnvironmentVariable("INGEST_SCREENSHOT") is { Length: > 0 } shot) environment["INGEST_SCREENSHOT"] = shot;
        var (exit, output) = await RunNode(TimeSpan.FromSeconds(90), environment, "test/page.test.mjs");
        log.WriteLine(output);
        Assert.True(exit == 0, $"page.test.mjs exited {exit}:\n{output}\ndaemon:\n{stack.Daemon.Output[^Math.Min(4000, stack.Daemon.Output.Length)..]}");
        // The script's last line: what it measured.
        var summary = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.True(summary.GetProperty("minStatusGapMs").GetDouble() >= 1000, output);
    }
}
