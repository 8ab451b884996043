using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// 2xx means storable: what real InfluxDB would refuse (unknown retention policy, field type conflict, a point
/// older than its policy keeps, a missing database when the daemon may not create it) is refused at the door with
/// InfluxDB's status and message, and the good lines of the same body land.
/// </summary>
[Collection(SharedStackCollection.Name)]
public class SchemaAdmissionTests(SharedStackFixture fixture)
{
    private IngestStack Stack => fixture.Stack;

    [Fact]
    public async Task A_retention_policy_InfluxDB_lacks_is_refused_with_its_500_and_one_created_since_is_taken()
    {
        var db = ServersFixture.UniqueName("schema_rp");
        await Stack.Influx.CreateDatabaseAsync(db);
        // The daemon learns the database first (its default policy only).
        await ExpectAsync(await WriteAsync($"write?db={db}", "first v=1"), HttpStatusCode.NoContent);

        var refused = await WriteAsync($"write?db={db}&rp=week", "m v=1");
        await ExpectAsync(refused, HttpStatusCode.InternalServerError, "retention policy not found: week");

        // Created on InfluxDB directly: the daemon asks again (at most once a second) before refusing.
        await Stack.Influx.QueryAsync("", $"CREATE RETENTION POLICY week ON {InfluxServer.QuoteIdentifier(db)} DURATION 7d REPLICATION 1");
        await WriteUntilTakenAsync(Stack.Client, $"write?db={db}&rp=week", "m v=2", "the policy was created");
        var values = await WaitForValuesAsync(db, "SELECT v FROM week.m", 1);
        Assert.Equal([2.0], values);
    }

    [Fact]
    public async Task A_policy_created_through_the_daemons_query_is_known_to_the_next_write()
    {
        var db = ServersFixture.UniqueName("schema_query");
        await Stack.Influx.CreateDatabaseAsync(db);
        await ExpectAsync(await WriteAsync($"write?db={db}", "first v=1"), HttpStatusCode.NoContent);
        // Learned just now, so a miss would not be asked about again for a second: the statement itself must tell.
        using (var created = await Stack.Client.PostAsync("query", new FormUrlEncodedContent(
                   [new("q", $"CREATE RETENTION POLICY day ON {InfluxServer.QuoteIdentifier(db)} DURATION 1d REPLICATION 1")])))
            await ExpectAsync(created, HttpStatusCode.OK);
        await ExpectAsync(await WriteAsync($"write?db={db}&rp=day", "m v=1"), HttpStatusCode.NoContent);
        var landed = await WaitForValuesAsync(db, "SELECT v FROM day.m", 1);
        Assert.Equal([1.0], landed);
    }

    [Fact]
    public async Task A_field_type_conflict_with_InfluxDB_or_an_accepted_point_is_refused_and_the_good_lines_land()
    {
        var db = ServersFixture.UniqueName("schema_type");
        await Stack.Influx.CreateDatabaseAsync(db);
        var create = await Stack.Influx.Http.PostAsync($"/write?db={db}", new StringContent("cpu used=1i 1000000000\n"));
        Assert.Equal(HttpStatusCode.NoContent, create.StatusCode);

        // Line 2 conflicts with InfluxDB's integer; line 4 with line 3, accepted in the same body; line 6 with a
        // field of the first body, accepted and perhaps not delivered yet. The other lines land.
        var answer = await WriteAsync($"write?db={db}", string.Join('\n',
            "cpu used=2i 2000000000",
            "cpu used=2.5 3000000000",
            "cpu idle=true 4000000000",
            "cpu idle=0.5,used=3i 5000000000",
            "cpu used=4i 6000000000"));
        var body = await ExpectAsync(answer, HttpStatusCode.BadRequest,
            "partial write: field type conflict: input field \\\"used\\\" on measurement \\\"cpu\\\" is type float, already exists as type integer dropped=2 for database: " + db);
        using (var json = JsonDocument.Parse(body))
        {
            Assert.Equal(2, json.RootElement.GetProperty("line").GetInt32());
            Assert.Equal(2, json.RootElement.GetProperty("rejected").GetInt32());
            Assert.Equal(3, json.RootElement.GetProperty("accepted").GetInt32());
            var errors = json.RootElement.GetProperty("errors").EnumerateArray().ToArray();
            Assert.Equal([2, 4], errors.Select(e => e.GetProperty("line").GetInt32()));
            Assert.Equal("field type conflict: input field \"idle\" on measurement \"cpu\" is type float, already exists as type boolean",
                errors[1].GetProperty("reason").GetString());
        }
        var again = await WriteAsync($"write?db={db}", "cpu idle=1i 7000000000\ncpu used=5i 8000000000");
        await ExpectAsync(again, HttpStatusCode.BadRequest, "is type integer, already exists as type boolean dropped=1");

        // Kept: used at 1 (direct), 2, 6 and 8 s; idle at 4 s.
        Assert.Equal(4, await Stack.Influx.WaitForCountAsync(db, "cpu", 4, TimeSpan.FromSeconds(30)));
        var rows = await InfluxRows.QueryAsync(Stack.Influx, db, "SELECT used, idle FROM cpu");
        var times = rows.SelectMany(s => s.Values).Select(r => (long)InfluxRows.Number(r[0])!.Value / 1_000_000_000).ToArray();
        Assert.Equal([1L, 2, 4, 6, 8], times);
    }

    [Fact]
    public async Task A_point_older_than_its_retention_policy_keeps_is_refused()
    {
        var db = ServersFixture.UniqueName("schema_old");
        await Stack.Influx.CreateDatabaseAsync(db);
        await Stack.Influx.QueryAsync("", $"CREATE RETENTION POLICY hour ON {InfluxServer.QuoteIdentifier(db)} DURATION 1h REPLICATION 1");
        var now = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) * 1_000_000;
        var answer = await WriteAsync($"write?db={db}&rp=hour", $"m v=1 {now}\nm v=2 {now - 2L * 3600 * 1_000_000_000}");
        await ExpectAsync(answer, HttpStatusCode.BadRequest, "partial write: points beyond retention policy dropped=1 for database: " + db + " for retention policy: hour");
        var kept = await WaitForValuesAsync(db, "SELECT v FROM hour.m", 1);
        Assert.Equal([1.0], kept);
    }

    [Fact]
    public async Task A_refused_value_never_reaches_the_live_snapshot()
    {
        var db = ServersFixture.UniqueName("schema_live");
        await ExpectAsync(await WriteAsync($"write?db={db}", "temp,room=a c=21.5"), HttpStatusCode.NoContent);
        await ExpectAsync(await WriteAsync($"write?db={db}", "temp,room=a c=\"hot\""), HttpStatusCode.BadRequest, "is type string, already exists as type float");
        // A later good point in the same series shows that the live state has taken everything written before it.
        await ExpectAsync(await WriteAsync($"write?db={db}", "temp,room=a c=22.5,n=1i"), HttpStatusCode.NoContent);
        JsonElement? fields = null;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            var snapshot = JsonDocument.Parse(await Stack.Client.GetStringAsync("api/snapshot?measurement=temp&tag=room:a")).RootElement;
            fields = snapshot.EnumerateArray().Where(s => s.GetProperty("database").GetString() == db).Select(s => (JsonElement?)s.GetProperty("fields")).FirstOrDefault();
            return fields is { } f && f.TryGetProperty("n", out _);
        }, TimeSpan.FromSeconds(15)), "the live snapshot never showed the last point\n" + DaemonApi.Tail(Stack));
        Assert.Equal(22.5, fields!.Value.GetProperty("c").GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task Without_CreateDatabase_a_missing_database_is_404_until_it_exists()
    {
        await using var stack = await IngestStack.StartAsync(new Dictionary<string, string> { ["Influx:CreateDatabase"] = "false" });
        var db = ServersFixture.UniqueName("schema_nodb");
        using (var answer = await stack.Client.PostAsync($"write?db={db}", new StringContent("m v=1\n")))
            await ExpectAsync(answer, HttpStatusCode.NotFound, $"database not found: \\\"{db}\\\"");
        using (var answer = await stack.Client.PostAsync($"api/v2/write?bucket={db}", new StringContent("m v=1\n")))
            await ExpectAsync(answer, HttpStatusCode.NotFound, "database not found");

        await stack.Influx.CreateDatabaseAsync(db);
        // Asked again at most once a second: the database is usable within about that.
        await WriteUntilTakenAsync(stack.Client, $"write?db={db}", "m v=2", "the database was created");
        Assert.Equal(1, await stack.Influx.WaitForCountAsync(db, "m", 1, TimeSpan.FromSeconds(30)));
    }

    /// <summary>The first column after time of every row <paramref name="query"/> gives, once it gives <paramref name="count"/>.</summary>
    private async Task<double[]> WaitForValuesAsync(string db, string query, int count)
    {
        double[] values = [];
        await DaemonApi.WaitUntilAsync(async () =>
        {
            var rows = await InfluxRows.QueryAsync(Stack.Influx, db, query);
            values = rows.SelectMany(s => s.Values).Select(r => InfluxRows.Number(r[1]) ?? double.NaN).ToArray();
            return values.Length >= count;
        }, TimeSpan.FromSeconds(30));
        return values;
    }

    /// <summary>Writes <paramref name="body"/> again every 300 ms until it is answered 204 (within 10 s).</summary>
    private static async Task WriteUntilTakenAsync(HttpClient client, string path, string body, string after)
    {
        HttpStatusCode status = 0;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            using var answer = await client.PostAsync(path, new StringContent(body + "\n", Encoding.UTF8, "text/plain"));
            status = answer.StatusCode;
            return status == HttpStatusCode.NoContent;
        }, TimeSpan.FromSeconds(10), pollMs: 300), $"still {status} after {after}");
    }

    private Task<HttpResponseMessage> WriteAsync(string path, string body) =>
        Stack.Client.PostAsync(path, new StringContent(body + "\n", Encoding.UTF8, "text/plain"));

    private static async Task<string> ExpectAsync(HttpResponseMessage answer, HttpStatusCode status, string? inBody = null)
    {
        using (answer)
        {
            var body = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == status, $"expected {(int)status}, got {(int)answer.StatusCode}: {body}");
            if (inBody is not null) Assert.Contains(inBody, body);
            return body;
        }
    }
}
