using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// A stack with auth on: an operator token without a database list, and a team token granted one database
/// (<c>Auth:Tokens:N:Databases</c>) with every scope.
/// </summary>
public sealed class GrantedStack : IAsyncLifetime
{
    public const string Operator = "operator-secret", Team = "team-secret";
    public static readonly string Mine = ServersFixture.UniqueName("mine"), Theirs = ServersFixture.UniqueName("theirs");

    public IngestStack Stack { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["Auth:Enabled"] = "true",
            ["Thresholds:Rules:0:Name"] = "hot", ["Thresholds:Rules:0:Measurement"] = "grant",
            ["Thresholds:Rules:0:Field"] = "v", ["Thresholds:Rules:0:Crit"] = "90",
            ["Live:FlushInterval"] = "50ms",
        };
        var tokens = new[] { ("operator", Operator), ("team", Team) };
        for (var i = 0; i < tokens.Length; i++)
        {
            var (_, hash) = await DaemonProcess.RunToExitAsync("hash-token", tokens[i].Item2);
            settings[$"Auth:Tokens:{i}:Name"] = tokens[i].Item1;
            settings[$"Auth:Tokens:{i}:Sha256"] = hash.Trim();
            settings[$"Auth:Tokens:{i}:Scopes:0"] = "write";
            settings[$"Auth:Tokens:{i}:Scopes:1"] = "admin";
        }
        settings["Auth:Tokens:1:Databases:0"] = Mine;
        Stack = await IngestStack.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        if (Stack is not null) await Stack.DisposeAsync();
    }

    public async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string token, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = new StringContent(body);
        using var response = await Stack.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

public class DatabaseGrantTests(GrantedStack fixture) : IClassFixture<GrantedStack>
{
    private static readonly string Mine = GrantedStack.Mine, Theirs = GrantedStack.Theirs;

    private Task<(HttpStatusCode Status, string Body)> Get(string path, string token = GrantedStack.Team) => fixture.SendAsync(HttpMethod.Get, path, token);

    private async Task Write(string db, string lines, string token = GrantedStack.Operator)
    {
        var (status, body) = await fixture.SendAsync(HttpMethod.Post, $"write?db={db}", token, lines);
        Assert.True(status == HttpStatusCode.NoContent, $"write to {db}: {(int)status} {body}");
    }

    [Fact]
    public async Task A_token_with_a_database_list_writes_only_those_databases_in_every_write_form()
    {
        Assert.Equal(HttpStatusCode.NoContent, (await fixture.SendAsync(HttpMethod.Post, $"write?db={Mine}", GrantedStack.Team, "w v=1")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await fixture.SendAsync(HttpMethod.Post, $"api/v2/write?bucket={Mine}/autogen", GrantedStack.Team, "w v=1")).Status);

        foreach (var path in new[] { $"write?db={Theirs}", $"api/v2/write?bucket={Theirs}", $"api/v2/write?bucket={Theirs}/autogen", "write" })
        {
            var (status, body) = await fixture.SendAsync(HttpMethod.Post, path, GrantedStack.Team, "w v=1");
            Assert.True(status == HttpStatusCode.Forbidden, $"POST /{path}: {(int)status} {body}");
            Assert.Contains("not authorized to write to database", body);
        }
        // The operator's token has no list: every database, as before lists existed.
        Assert.Equal(HttpStatusCode.NoContent, (await fixture.SendAsync(HttpMethod.Post, $"write?db={Theirs}", GrantedStack.Operator, "w v=1")).Status);
    }

    [Fact]
    public async Task History_of_a_database_outside_the_list_is_403_and_inside_it_is_served()
    {
        await Write(Mine, "hist,owner=me v=1 1700000000000000000");
        await Write(Theirs, "hist,owner=them secret=\"not for you\" 1700000000000000000");
        Assert.Equal(1, await fixture.Stack.Influx.WaitForCountAsync(Theirs, "hist", 1, TimeSpan.FromSeconds(20)));
        Assert.Equal(1, await fixture.Stack.Influx.WaitForCountAsync(Mine, "hist", 1, TimeSpan.FromSeconds(20)));
        const string range = "measurement=hist&from=2023-11-14T00:00:00Z&to=2023-11-15T00:00:00Z";

        var (mine, mineBody) = await Get($"api/history?db={Mine}&field=v&{range}");
        Assert.True(mine == HttpStatusCode.OK, mineBody);
        Assert.Contains("\"me\"", mineBody);

        foreach (var query in new[] { $"db={Theirs}&field=secret&{range}", $"field=secret&{range}" })
        {
            var (status, body) = await Get($"api/history?{query}");
            Assert.True(status == HttpStatusCode.Forbidden, $"{query}: {(int)status} {body}");
            Assert.DoesNotContain("not for you", body);
        }
        var (operatorStatus, operatorBody) = await Get($"api/history?db={Theirs}&field=secret&{range}", GrantedStack.Operator);
        Assert.True(operatorStatus == HttpStatusCode.OK, operatorBody);
        Assert.Contains("not for you", operatorBody);
    }

    [Fact]
    public async Task Snapshot_series_and_alerts_show_only_the_listed_databases_and_an_alert_elsewhere_cannot_be_acknowledged()
    {
        await Write(Theirs, "grant,owner=them v=95 1700000000000000000");
        await Write(Mine, "grant,owner=me v=96 1700000000000000000");

        // Both are in the live state and active as alerts once the operator sees them.
        Assert.True(await Oracle.DaemonApi.WaitUntilAsync(async () =>
        {
            var (_, snapshot) = await Get("api/snapshot?measurement=grant", GrantedStack.Operator);
            return snapshot.Contains(Mine) && snapshot.Contains(Theirs);
        }, TimeSpan.FromSeconds(20)), Oracle.DaemonApi.Tail(fixture.Stack));
        var (_, allAlerts) = await Get("api/alerts", GrantedStack.Operator);
        var theirAlert = JsonDocument.Parse(allAlerts).RootElement.EnumerateArray().Single(a => a.GetProperty("database").GetString() == Theirs).GetProperty("id").GetString();
        var myAlert = JsonDocument.Parse(allAlerts).RootElement.EnumerateArray().Single(a => a.GetProperty("database").GetString() == Mine).GetProperty("id").GetString();

        foreach (var path in new[] { "api/snapshot?measurement=grant", "api/series?measurement=grant", "api/alerts" })
        {
            var (status, body) = await Get(path);
            Assert.Equal(HttpStatusCode.OK, status);
            var databases = JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => e.GetProperty("database").GetString()).Where(d => d == Mine || d == Theirs).ToList();
            Assert.Equal([Mine], databases);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await fixture.SendAsync(HttpMethod.Post, $"api/alerts/{theirAlert}/ack", GrantedStack.Team, "")).Status);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendAsync(HttpMethod.Post, $"api/alerts/{myAlert}/ack", GrantedStack.Team, "")).Status);
        var (_, after) = await Get("api/alerts", GrantedStack.Operator);
        var theirs = JsonDocument.Parse(after).RootElement.EnumerateArray().Single(a => a.GetProperty("id").GetString() == theirAlert);
        Assert.Equal(JsonValueKind.Null, theirs.GetProperty("acknowledgedBy").ValueKind);
    }

    [Fact]
    public async Task The_live_feed_sends_a_token_only_points_of_its_databases()
    {
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.Stack.Daemon.Port}/ws?token={GrantedStack.Team}"), CancellationToken.None);
        await ws.SendAsync(Encoding.UTF8.GetBytes("""{"op":"subscribe","channel":"points","measurement":"feedgrant"}"""), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal("subscribed", (await Receive(ws)).GetProperty("type").GetString());
        Assert.Equal("snapshot", (await Receive(ws)).GetProperty("type").GetString());

        // Batches reach the feed in the order they were accepted: once the second has arrived, the first
        // would have arrived before it.
        await Write(Theirs, "feedgrant,owner=them v=1 1700000000000000000");
        await Write(Mine, "feedgrant,owner=me v=2 1700000000000000000");
        var update = await Receive(ws);
        var point = Assert.Single(update.GetProperty("points").EnumerateArray());
        Assert.Equal("me", point.GetProperty("tags").GetProperty("owner").GetString());
    }

    [Theory]
    [InlineData("from", "-NaNd", "is not a time")]
    [InlineData("from", "-Infinityh", "is not a time")]
    [InlineData("from", "-1e300d", "outside the times InfluxDB stores")]
    [InlineData("from", "99999999999999", "outside the times InfluxDB stores")]
    [InlineData("from", "-99999999999", "outside the times InfluxDB stores")]
    [InlineData("from", "1000-01-01T00:00:00Z", "outside the times InfluxDB stores")]
    [InlineData("to", "9999-12-31T00:00:00Z", "outside the times InfluxDB stores")]
    [InlineData("to", "2262-04-12T00:00:00Z", "outside the times InfluxDB stores")]
    public async Task Times_InfluxDB_cannot_hold_are_400_naming_the_parameter_and_value(string parameter, string value, string reason)
    {
        var other = parameter == "from" ? "to=2024-01-01T00:00:00Z" : "from=2024-01-01T00:00:00Z";
        var (status, body) = await Get($"api/history?db={Mine}&measurement=hist&field=v&{other}&{parameter}={Uri.EscapeDataString(value)}");
        Assert.True(status == HttpStatusCode.BadRequest, $"{parameter}={value}: {(int)status} {body}");
        var message = JsonDocument.Parse(body).RootElement.GetProperty("message").GetString();
        Assert.StartsWith($"{parameter}: '{value}' ", message);
        Assert.Contains(reason, message);
    }

    private static async Task<JsonElement> Receive(ClientWebSocket ws)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await ws.ReceiveAsync(buffer, cts.Token);
            message.Write(buffer, 0, result.Count);
        } while (!result.EndOfMessage);
        return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
    }
}
