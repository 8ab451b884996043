using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary><c>GET /api/v2/buckets</c> with a 1.x sink: one bucket <c>db/rp</c> per retention policy.</summary>
[Collection(QueryCollection.Name)]
public class BucketsTests(QueryStack fixture)
{
    private async Task<(HttpStatusCode Status, string Body)> Get(string token, string query = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v2/buckets" + query);
        request.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
        using var response = await fixture.Stack.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Each_retention_policy_is_a_bucket_named_db_slash_rp_and_a_limited_token_sees_only_its_own()
    {
        var db = ServersFixture.UniqueName("bucketdb");
        await fixture.Stack.Influx.CreateDatabaseAsync(db);
        await fixture.Stack.Influx.QueryAsync("", $"CREATE RETENTION POLICY week ON {db} DURATION 168h REPLICATION 1");
        await fixture.Stack.Influx.CreateDatabaseAsync(QueryStack.TeamDb);

        var (status, body) = await Get(QueryStack.Reader, "?limit=100");
        Assert.True(status == HttpStatusCode.OK, body);
        using (var json = JsonDocument.Parse(body))
        {
            var buckets = json.RootElement.GetProperty("buckets").EnumerateArray().ToDictionary(b => b.GetProperty("name").GetString()!);
            Assert.Contains($"{db}/autogen", buckets.Keys);
            Assert.Equal(0, buckets[$"{db}/autogen"].GetProperty("retentionRules")[0].GetProperty("everySeconds").GetInt64());
            Assert.Equal(168 * 3600, buckets[$"{db}/week"].GetProperty("retentionRules")[0].GetProperty("everySeconds").GetInt64());
            Assert.Equal(16, buckets[$"{db}/week"].GetProperty("id").GetString()!.Length);
        }

        (status, body) = await Get(QueryStack.Reader, $"?name={db}/week");
        Assert.Single(JsonDocument.Parse(body).RootElement.GetProperty("buckets").EnumerateArray());

        (status, body) = await Get(QueryStack.Team, "?limit=100");
        Assert.True(status == HttpStatusCode.OK, body);
        var names = JsonDocument.Parse(body).RootElement.GetProperty("buckets").EnumerateArray().Select(b => b.GetProperty("name").GetString()!).ToArray();
        Assert.Equal([$"{QueryStack.TeamDb}/autogen"], names);

        (status, _) = await Get(QueryStack.Writer);
        Assert.Equal(HttpStatusCode.Forbidden, status);
    }
}
