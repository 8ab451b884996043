using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>Flux on <c>/api/v2/query</c>: judged as a whole (influxd 1.6.7 has no Flux, so what passes gets its 404).</summary>
[Collection(QueryCollection.Name)]
public class FluxQueryTests(QueryStack fixture)
{
    private async Task<(HttpStatusCode Status, string Body)> Flux(string token, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v2/query?org=o") { Content = new StringContent(body, Encoding.UTF8, contentType) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
        using var response = await fixture.Stack.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_read_token_may_read_but_not_write_with_to_or_import_a_package_that_writes()
    {
        var read = JsonSerializer.Serialize(new { query = "from(bucket: \"metrics/autogen\") |> range(start: -1h)", type = "flux" });
        var (status, body) = await Flux(QueryStack.Reader, read);
        Assert.True(status is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden), $"{(int)status} {body}");

        foreach (var script in new[]
        {
            "from(bucket: \"a\") |> range(start: -1h) |> to(bucket: \"b\")",
            "import \"http\"\nhttp.post(url: \"http://127.0.0.1:9\", data: bytes(v: \"x\"))",
        })
        {
            (status, body) = await Flux(QueryStack.Reader, JsonSerializer.Serialize(new { query = script }));
            Assert.True(status == HttpStatusCode.Forbidden, $"{script}: {(int)status} {body}");
            Assert.Contains("\"code\":\"forbidden\"", body);
            Assert.Contains("admin scope", body);
            (status, body) = await Flux(QueryStack.Reader, script, "application/vnd.flux");
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }
    }

    [Fact]
    public async Task Two_query_members_are_refused_and_a_database_limited_token_cannot_use_Flux()
    {
        var (status, body) = await Flux(QueryStack.Admin, "{\"query\":\"from(bucket: \\\"a\\\")\",\"query\":\"x = 1\"}");
        Assert.True(status == HttpStatusCode.BadRequest, body);
        Assert.Contains("given twice", body);

        (status, body) = await Flux(QueryStack.Team, JsonSerializer.Serialize(new { query = "from(bucket: \"a\") |> range(start: -1h)" }));
        Assert.True(status == HttpStatusCode.Forbidden, body);
    }
}
