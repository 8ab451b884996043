using System.Net;
using System.Net.Http.Headers;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

/// <summary>A daemon with one token per scope, <c>/metrics</c> protected.</summary>
public sealed class ScopedDaemon : IAsyncLifetime
{
    public const string Writer = "writer-secret", Reader = "reader-secret", Admin = "admin-secret";

    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9", // nothing listens: scopes are decided before any delivery
            ["Auth:Enabled"] = "true",
            ["Auth:ProtectMetrics"] = "true",
        };
        var tokens = new[] { ("telegraf", Writer, "write"), ("grafana", Reader, "read"), ("ops", Admin, "admin") };
        for (var i = 0; i < tokens.Length; i++)
        {
            var (exit, hash) = await DaemonProcess.RunToExitAsync("hash-token", tokens[i].Item2);
            Assert.Equal(0, exit);
            settings[$"Auth:Tokens:{i}:Name"] = tokens[i].Item1;
            settings[$"Auth:Tokens:{i}:Sha256"] = hash.Trim();
            settings[$"Auth:Tokens:{i}:Scopes:0"] = tokens[i].Item3;
        }
        Daemon = await DaemonProcess.StartAsync(settings);
    }

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

public class ScopeTests(ScopedDaemon fixture) : IClassFixture<ScopedDaemon>
{
    // Endpoint, the scope it needs, and a token that has some other scope but not that one.
    public static TheoryData<string, string, string, string> Endpoints => new()
    {
        { "POST", "write?db=scopes", ScopedDaemon.Writer, ScopedDaemon.Reader },
        { "POST", "api/v2/write?bucket=scopes&org=o", ScopedDaemon.Writer, ScopedDaemon.Admin },
        { "GET", "api/status", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "GET", "api/alerts", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "GET", "api/snapshot", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "GET", "api/series", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "GET", "api/history", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "GET", "metrics", ScopedDaemon.Reader, ScopedDaemon.Writer },
        { "POST", "api/pipeline/flush", ScopedDaemon.Admin, ScopedDaemon.Reader },
        { "POST", "api/pipeline/pause", ScopedDaemon.Admin, ScopedDaemon.Reader },
        { "POST", "api/pipeline/resume", ScopedDaemon.Admin, ScopedDaemon.Writer },
        { "POST", "api/alerts/0123456789abcdef/ack", ScopedDaemon.Admin, ScopedDaemon.Reader },
    };

    private async Task<HttpResponseMessage> Send(string method, string path, string? token)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST") request.Content = new StringContent(path.Contains("write") ? "scoped v=1 1" : "");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await fixture.Daemon.Client.SendAsync(request);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Each_endpoint_answers_401_without_a_token_403_without_its_scope_and_serves_with_it(string method, string path, string right, string wrong)
    {
        try
        {
            using var none = await Send(method, path, null);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);

            using var bogus = await Send(method, path, "not-a-token");
            Assert.Equal(HttpStatusCode.Unauthorized, bogus.StatusCode);

            using var lacking = await Send(method, path, wrong);
            Assert.Equal(HttpStatusCode.Forbidden, lacking.StatusCode);
            Assert.Contains("scope", await lacking.Content.ReadAsStringAsync());

            using var allowed = await Send(method, path, right);
            var body = await allowed.Content.ReadAsStringAsync();
            // The endpoint's own answer, once past auth: the acknowledgement of an alert that does not exist is 404,
            // as are the snapshot and the series list without the live state (this daemon has no Redis), and a
            // history query without a measurement is 400.
            var expected = path switch
            {
                _ when path.EndsWith("/ack") || path.StartsWith("api/snapshot") || path.StartsWith("api/series") => HttpStatusCode.NotFound,
                _ when path.StartsWith("api/history") => HttpStatusCode.BadRequest,
                _ when path.Contains("write") => HttpStatusCode.NoContent,
                _ => HttpStatusCode.OK,
            };
            Assert.True(allowed.StatusCode == expected || (path.EndsWith("flush") && allowed.StatusCode == HttpStatusCode.Accepted),
                $"{method} /{path} with the right token: {(int)allowed.StatusCode} {body}");
        }
        finally
        {
            using var resume = await Send("POST", "api/pipeline/resume", ScopedDaemon.Admin);
        }
    }

    [Fact]
    public async Task Query_is_judged_before_InfluxDB_is_asked_and_an_unreachable_InfluxDB_is_502_naming_its_URL()
    {
        using var lacking = await Send("GET", "query?q=SHOW+DATABASES", ScopedDaemon.Writer);
        Assert.Equal(HttpStatusCode.Forbidden, lacking.StatusCode);
        Assert.Contains("needs the read scope", await lacking.Content.ReadAsStringAsync());

        using var response = await Send("GET", "query?q=SHOW+DATABASES", ScopedDaemon.Reader);
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.StartsWith("{\"error\":\"InfluxDB at http://127.0.0.1:9/ cannot be reached", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Admin_implies_read()
    {
        using var status = await Send("GET", "api/status", ScopedDaemon.Admin);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
    }

    [Theory]
    [InlineData("health")]
    [InlineData("ping")]
    [InlineData("ready")]
    public async Task Health_ping_and_ready_stay_open(string path)
    {
        using var response = await Send("GET", path, null);
        Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task The_API_takes_the_token_as_a_query_parameter_and_names_its_scheme_on_401()
    {
        using var viaQuery = await Send("GET", $"api/status?token={ScopedDaemon.Reader}", null);
        Assert.Equal(HttpStatusCode.OK, viaQuery.StatusCode);
        using var unauthorized = await Send("GET", "api/status", null);
        Assert.Contains("Bearer", unauthorized.Headers.WwwAuthenticate.ToString());
    }
}

public class RateLimitTests
{
    [Fact]
    public async Task Each_token_has_its_own_bucket_and_over_it_gets_429_with_Retry_After_while_health_stays_open()
    {
        var settings = new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Auth:Enabled"] = "true",
            ["Auth:RateLimitPerSecond"] = "1",
            ["Auth:RateLimitBurst"] = "3",
        };
        foreach (var (i, secret) in new[] { (0, "first-secret"), (1, "second-secret") })
        {
            var (_, hash) = await DaemonProcess.RunToExitAsync("hash-token", secret);
            settings[$"Auth:Tokens:{i}:Name"] = $"t{i}";
            settings[$"Auth:Tokens:{i}:Sha256"] = hash.Trim();
            settings[$"Auth:Tokens:{i}:Scopes:0"] = "read";
        }
        await using var daemon = await DaemonProcess.StartAsync(settings);

        async Task<HttpResponseMessage> Status(string secret)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "api/status");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            return await daemon.Client.SendAsync(request);
        }

        var codes = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 8; i++)
        {
            var r = await Status("first-secret");
            codes.Add(r.StatusCode);
            if (r.StatusCode == HttpStatusCode.TooManyRequests) refused ??= r;
        }
        // A burst of 3, then about one a second: 8 quick requests cannot all pass.
        Assert.True(codes.Count(c => c == HttpStatusCode.OK) is >= 3 and <= 5, string.Join(",", codes));
        Assert.NotNull(refused);
        Assert.Equal("1", refused!.Headers.RetryAfter?.ToString());

        using var other = await Status("second-secret");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        for (var i = 0; i < 10; i++)
        {
            using var health = await daemon.Client.GetAsync("health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
    }

    [Fact]
    public async Task Monitoring_endpoints_are_exempt_however_their_path_is_spelt_and_the_API_is_not()
    {
        var (_, hash) = await DaemonProcess.RunToExitAsync("hash-token", "reader-secret");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = "http://127.0.0.1:9",
            ["Auth:Enabled"] = "true",
            ["Auth:RateLimitPerSecond"] = "1",
            ["Auth:RateLimitBurst"] = "1",
            ["Auth:Tokens:0:Name"] = "grafana",
            ["Auth:Tokens:0:Sha256"] = hash.Trim(),
            ["Auth:Tokens:0:Scopes:0"] = "read",
        });

        // Routing sends each of these to a monitoring endpoint, so each must be as unlimited as its plain form;
        // all of them share one client address, whose bucket holds a single request.
        foreach (var path in new[] { "metrics", "metrics/", "METRICS", "Metrics/", "health", "health/", "HEALTH", "ready/", "ping", "ping/", "PING" })
        {
            for (var i = 0; i < 4; i++)
            {
                using var r = await daemon.Client.GetAsync(path);
                Assert.True(r.StatusCode != HttpStatusCode.TooManyRequests, $"/{path} (request {i + 1}) was rate limited");
            }
        }

        // The limiter is on: the API, with or without its trailing slash, is held to the token's rate.
        var codes = new List<HttpStatusCode>();
        foreach (var path in new[] { "api/status/", "api/status/", "api/status", "API/STATUS/", "api/status/", "Api/Status" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "reader-secret");
            using var r = await daemon.Client.SendAsync(request);
            codes.Add(r.StatusCode);
        }
        Assert.True(codes.Count(c => c == HttpStatusCode.TooManyRequests) >= 2, string.Join(",", codes));
        Assert.DoesNotContain(HttpStatusCode.NotFound, codes);
    }
}
