using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// A stack with auth on and one token per scope: <c>reader</c> (read), <c>writer</c> (write), <c>admin</c> (admin),
/// <c>client</c> (write and admin, what a client that creates, writes and reads needs) and <c>team</c> (read and
/// write, granted one database).
/// </summary>
public sealed class QueryStack : IAsyncLifetime
{
    public const string Reader = "q-reader", Writer = "q-writer", Admin = "q-admin", Client = "q-client", Team = "q-team";
    public static readonly string TeamDb = ServersFixture.UniqueName("teamdb");

    public IngestStack Stack { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string> { ["Auth:Enabled"] = "true" };
        var tokens = new[]
        {
            ("reader", Reader, new[] { "read" }), ("writer", Writer, ["write"]), ("admin", Admin, ["admin"]),
            ("client", Client, ["write", "admin"]), ("team", Team, ["read", "write"]),
        };
        for (var i = 0; i < tokens.Length; i++)
        {
            var (exit, hash) = await DaemonProcess.RunToExitAsync("hash-token", tokens[i].Item2);
            Assert.Equal(0, exit);
            settings[$"Auth:Tokens:{i}:Name"] = tokens[i].Item1;
            settings[$"Auth:Tokens:{i}:Sha256"] = hash.Trim();
            for (var s = 0; s < tokens[i].Item3.Length; s++) settings[$"Auth:Tokens:{i}:Scopes:{s}"] = tokens[i].Item3[s];
        }
        settings[$"Auth:Tokens:{tokens.Length - 1}:Databases:0"] = TeamDb;
        Stack = await IngestStack.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        if (Stack is not null) await Stack.DisposeAsync();
    }
}

/// <summary>One <see cref="QueryStack"/> for the query, Flux and bucket tests; they use unique database names.</summary>
[CollectionDefinition(Name)]
public sealed class QueryCollection : ICollectionFixture<QueryStack>
{
    public const string Name = "query";
}

/// <summary><c>/query</c> end to end: real clients (the influx CLI, python-influxdb) → daemon → real influxd.</summary>
[Collection(QueryCollection.Name)]
public class QueryTests(QueryStack fixture)
{
    private IngestStack Stack => fixture.Stack;

    private async Task<(HttpStatusCode Status, string Body)> Query(string token, string q, string db = "", string method = "GET", string extra = "")
    {
        var parameters = $"q={Uri.EscapeDataString(q)}" + (db.Length > 0 ? $"&db={Uri.EscapeDataString(db)}" : "") + extra;
        using var request = method == "GET"
            ? new HttpRequestMessage(HttpMethod.Get, "query?" + parameters)
            : new HttpRequestMessage(HttpMethod.Post, "query") { Content = new StringContent(parameters, Encoding.UTF8, "application/x-www-form-urlencoded") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Stack.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<string[]> DatabasesOnInflux()
    {
        var root = await Stack.Influx.QueryAsync("", "SHOW DATABASES");
        return root.GetProperty("results")[0].GetProperty("series")[0].GetProperty("values").EnumerateArray().Select(v => v[0].GetString()!).ToArray();
    }

    private static async Task<(int Exit, string Output)> Run(string file, IEnumerable<string> args, string? stdin = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task The_influx_CLI_creates_a_database_uses_it_and_its_INSERT_lands_there_not_in_the_default()
    {
        var db = ServersFixture.UniqueName("clidb");
        // -execute sends each line through the CLI's own parser, as typed at its prompt: "use" checks the database
        // with SHOW DATABASES, and INSERT writes to the database "use" chose.
        var (exit, output) = await Run("influx",
        [
            "-host", "127.0.0.1", "-port", Stack.Daemon.Port.ToString(), "-username", "cli", "-password", QueryStack.Client,
            "-execute", $"CREATE DATABASE {db}\nuse {db}\nINSERT clipoint,src=cli v=42 1700000000000000000",
        ]);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("DB does not exist", output);
        Assert.Contains($"Using database {db}", output);

        Assert.Contains(db, await DatabasesOnInflux());
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "clipoint", 1, TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await Stack.Influx.CountAsync("metrics", "clipoint"));
    }

    [Fact]
    public async Task Python_influxdb_creates_lists_writes_and_queries_through_the_daemon()
    {
        var db = ServersFixture.UniqueName("pydb");
        var script = $$"""
            import json, time
            from influxdb import InfluxDBClient
            c = InfluxDBClient(host="127.0.0.1", port={{Stack.Daemon.Port}}, username="py", password="{{QueryStack.Client}}", database="{{db}}")
            c.create_database("{{db}}")
            names = [d["name"] for d in c.get_list_database()]
            c.write_points([{"measurement": "py", "tags": {"k": "v"}, "fields": {"v": 1.5}, "time": 1700000000000000000}], time_precision="n")
            points = []
            for _ in range(200):
                points = list(c.query("SELECT v, k FROM py", epoch="ns").get_points())
                if points:
                    break
                time.sleep(0.1)
            print(json.dumps({"databases": names, "points": points}))
            """;
        var (exit, output) = await Run("/usr/bin/python3", ["-c", script]);
        Assert.True(exit == 0, output);
        using var json = JsonDocument.Parse(output);
        Assert.Contains(db, json.RootElement.GetProperty("databases").EnumerateArray().Select(d => d.GetString()));
        var point = Assert.Single(json.RootElement.GetProperty("points").EnumerateArray());
        Assert.Equal(1.5, point.GetProperty("v").GetDouble());
        Assert.Equal("v", point.GetProperty("k").GetString());
        Assert.Equal(1700000000000000000L, point.GetProperty("time").GetInt64());
    }

    [Fact]
    public async Task A_read_token_selects_and_shows_but_cannot_drop()
    {
        var db = ServersFixture.UniqueName("readdb");
        await Stack.Influx.CreateDatabaseAsync(db);
        await Stack.Influx.WriteAsync(db, "m v=7 1700000000000000000");

        var (status, body) = await Query(QueryStack.Reader, "SELECT v FROM m", db, extra: "&epoch=ns");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains("[1700000000000000000,7]", body.Replace(" ", ""));
        (status, body) = await Query(QueryStack.Reader, "SHOW DATABASES", method: "POST");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains(db, body);

        (status, body) = await Query(QueryStack.Reader, $"DROP DATABASE {db}", method: "POST");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("needs the admin scope", body);
        Assert.Contains(db, await DatabasesOnInflux());
    }

    [Fact]
    public async Task A_write_token_creates_a_database_but_cannot_drop_it_and_an_admin_token_can()
    {
        var db = ServersFixture.UniqueName("writedb");
        var (status, body) = await Query(QueryStack.Writer, $"CREATE DATABASE {db}", method: "POST");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains(db, await DatabasesOnInflux());

        (status, body) = await Query(QueryStack.Writer, $"DROP DATABASE {db}", method: "POST");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains(db, await DatabasesOnInflux());

        (status, body) = await Query(QueryStack.Admin, $"DROP DATABASE {db}", method: "POST");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.DoesNotContain(db, await DatabasesOnInflux());
    }

    [Theory]
    [InlineData(QueryStack.Reader, "SELECT 1 /* ; */ ; DROP DATABASE {0}")]
    [InlineData(QueryStack.Reader, "SELECT * FROM \"a;b\"; drop\ndatabase {0}")]
    [InlineData(QueryStack.Writer, "CREATE DATABASE {1}; DROP DATABASE {0}")]
    public async Task A_hidden_second_statement_refuses_the_whole_request_and_nothing_runs(string token, string template)
    {
        var victim = ServersFixture.UniqueName("victim");
        var bystander = ServersFixture.UniqueName("bystander");
        await Stack.Influx.CreateDatabaseAsync(victim);

        var (status, body) = await Query(token, string.Format(template, victim, bystander), method: "POST");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("statement 2 of 2 (drop database", body, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("admin scope", body);
        var databases = await DatabasesOnInflux();
        Assert.Contains(victim, databases);
        Assert.DoesNotContain(bystander, databases); // the allowed first statement was not forwarded either
    }

    [Fact]
    public async Task A_token_granted_one_database_sees_only_it_in_SHOW_DATABASES_and_cannot_reach_another()
    {
        var other = ServersFixture.UniqueName("notteam");
        await Stack.Influx.CreateDatabaseAsync(other);
        await Stack.Influx.WriteAsync(other, "secret v=1 1700000000000000000");
        var (status, body) = await Query(QueryStack.Team, $"CREATE DATABASE {QueryStack.TeamDb}", method: "POST");
        Assert.True(status == HttpStatusCode.OK, body);

        (status, body) = await Query(QueryStack.Team, "SHOW DATABASES");
        Assert.True(status == HttpStatusCode.OK, body);
        using (var json = JsonDocument.Parse(body))
        {
            var names = json.RootElement.GetProperty("results")[0].GetProperty("series")[0].GetProperty("values")
                .EnumerateArray().Select(v => v[0].GetString()!).ToArray();
            Assert.Equal([QueryStack.TeamDb], names);
        }
        // The operator's view is InfluxDB's: every database.
        (status, body) = await Query(QueryStack.Reader, "SHOW DATABASES");
        Assert.Contains(other, body);

        foreach (var (q, db) in new[] { ("SELECT * FROM secret", other), ($"SELECT * FROM \"{other}\".\"autogen\".\"secret\"", QueryStack.TeamDb), ($"SELECT * FROM (SELECT * FROM {other}..secret)", ""), ($"SHOW MEASUREMENTS ON {other}", "") })
        {
            (status, body) = await Query(QueryStack.Team, q, db);
            Assert.True(status == HttpStatusCode.Forbidden, $"{q} (db={db}): {(int)status} {body}");
        }
    }

    [Fact]
    public async Task Chunked_answers_come_back_chunk_by_chunk()
    {
        var db = ServersFixture.UniqueName("chunkdb");
        await Stack.Influx.CreateDatabaseAsync(db);
        await Stack.Influx.WriteAsync(db, "c v=1 1700000000000000000\nc v=2 1700000001000000000\nc v=3 1700000002000000000");
        var (status, body) = await Query(QueryStack.Reader, "SELECT v FROM c", db, extra: "&chunked=true&chunk_size=1");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal(3, body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task A_second_q_in_the_body_or_query_string_is_refused_not_chosen()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "query?q=SELECT%201")
        {
            Content = new StringContent("q=DROP+DATABASE+x", Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", QueryStack.Admin);
        using var response = await Stack.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"error\":\"parameter \\\"q\\\" is given 2 times", body);

        var (status, _) = await Query(QueryStack.Reader, "SELECT 1", extra: "&q=DROP+DATABASE+x");
        Assert.Equal(HttpStatusCode.BadRequest, status);
    }

    [Fact]
    public async Task A_query_sent_as_a_multipart_file_is_judged_and_run()
    {
        var db = ServersFixture.UniqueName("multipart");
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes($"CREATE DATABASE {db}")), "q", "query.txt");
        using var request = new HttpRequestMessage(HttpMethod.Post, "query") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", QueryStack.Writer);
        using var response = await Stack.Client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.Contains(db, await DatabasesOnInflux());
    }

    [Fact]
    public async Task A_change_sent_with_GET_gets_InfluxDBs_read_only_warning_as_it_would_directly()
    {
        var db = ServersFixture.UniqueName("getdb");
        var (status, body) = await Query(QueryStack.Client, $"CREATE DATABASE {db}");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains("\"level\":\"warning\"", body);
        Assert.Contains(db, await DatabasesOnInflux());
    }

    [Fact]
    public async Task The_token_is_taken_in_InfluxDB_1x_forms_too_u_and_p_and_Token_user_colon_password()
    {
        using var viaParameters = await Stack.Client.GetAsync($"query?u=grafana&p={QueryStack.Reader}&q=SHOW+DATABASES");
        Assert.Equal(HttpStatusCode.OK, viaParameters.StatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Post, "query")
        {
            Content = new FormUrlEncodedContent([new("q", "SHOW DATABASES")]),
        };
        request.Headers.TryAddWithoutValidation("Authorization", $"Token grafana:{QueryStack.Reader}");
        using var viaToken = await Stack.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, viaToken.StatusCode);
    }

    [Fact]
    public async Task Without_a_token_query_is_401_in_InfluxDB_shape()
    {
        using var response = await Stack.Client.GetAsync("query?q=SHOW+DATABASES");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("{\"error\":\"authorization failed\"}", await response.Content.ReadAsStringAsync());
    }
}

public class QueryTimeoutTests
{
    [Fact]
    public async Task A_query_InfluxDB_does_not_answer_within_Influx_Timeout_is_504()
    {
        // The proxy holds /query; the daemon's probes are passed on to nothing, so they fail at once.
        await using var proxy = await StallingProxy.StartAsync(r => r.Path == "/query");
        proxy.Upstream = new Uri("http://127.0.0.1:9/");
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["Influx:Url"] = proxy.Url,
            ["Influx:Timeout"] = "1s",
        });
        using var response = await daemon.Client.GetAsync("query?q=SHOW+DATABASES");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"{(int)response.StatusCode} {body}");
        Assert.StartsWith("{\"error\":\"InfluxDB at http://127.0.0.1:", body);
        Assert.Contains("did not answer within", body);
    }

    [Fact]
    public async Task An_unreachable_InfluxDB_is_named_in_the_502_without_the_user_info_of_its_URL()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string> { ["Influx:Url"] = "http://someone:hunter2@127.0.0.1:9" });
        using var response = await daemon.Client.GetAsync("query?q=SHOW+DATABASES");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadGateway, $"{(int)response.StatusCode} {body}");
        Assert.Contains("InfluxDB at http://127.0.0.1:9/ cannot be reached", body);
        Assert.DoesNotContain("hunter2", body + response.Headers);
        Assert.DoesNotContain("someone", body + response.Headers);
    }
}
