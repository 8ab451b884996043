using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>The InfluxDB-compatible write endpoints, end to end: client → daemon → real influxd → InfluxQL.</summary>
[Collection(SharedStackCollection.Name)]
public class WriteApiTests(SharedStackFixture fixture)
{
    private IngestStack Stack => fixture.Stack;

    internal static HttpContent Body(string text, bool gzip)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (!gzip) return new ByteArrayContent(bytes);
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
        var content = new ByteArrayContent(ms.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    private static async Task<JsonElement[]> Rows(InfluxServer influx, string db, string query)
    {
        var root = await influx.QueryAsync(db, query);
        var series = root.GetProperty("results")[0];
        if (!series.TryGetProperty("series", out var s)) return [];
        return s.EnumerateArray().SelectMany(x => x.GetProperty("values").EnumerateArray()).ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task V1_write_stores_every_point_with_its_types_and_timestamps(bool gzip)
    {
        var db = ServersFixture.UniqueName("v1");
        var body = """
            # a comment, then a blank line

            weather,city=S\ Paulo,kind=a\,b temp=21.5,humidity=80i,ok=true,note="say \"hi\"" 1700000000
            weather,city=Oslo,kind=x temp=-3,humidity=95i,ok=F,note="" 1700000001
            counters,host=a big=42u 1700000002
            """;
        using var r = await Stack.Client.PostAsync($"write?db={db}&precision=s", Body(body, gzip));
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);

        Assert.Equal(2, await Stack.Influx.WaitForCountAsync(db, "weather", 2, TimeSpan.FromSeconds(20)));
        var rows = await Rows(Stack.Influx, db, "SELECT city, kind, temp, humidity, ok, note FROM weather ORDER BY time");
        Assert.Equal(1700000000_000000000L, rows[0][0].GetInt64());
        Assert.Equal("S Paulo", rows[0][1].GetString());
        Assert.Equal("a,b", rows[0][2].GetString());
        Assert.Equal(21.5, rows[0][3].GetDouble());
        Assert.Equal(80, rows[0][4].GetInt64());
        Assert.True(rows[0][5].GetBoolean());
        Assert.Equal("say \"hi\"", rows[0][6].GetString());
        Assert.Equal(1700000001_000000000L, rows[1][0].GetInt64());
        Assert.False(rows[1][5].GetBoolean());

        var types = (await Rows(Stack.Influx, db, "SHOW FIELD KEYS FROM weather")).ToDictionary(x => x[0].GetString()!, x => x[1].GetString());
        Assert.Equal("float", types["temp"]);
        Assert.Equal("integer", types["humidity"]);
        Assert.Equal("boolean", types["ok"]);
        Assert.Equal("string", types["note"]);

        // InfluxDB 1.x has no unsigned type: a u value that fits is stored as an integer.
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "counters", 1, TimeSpan.FromSeconds(20)));
        var big = await Rows(Stack.Influx, db, "SELECT big FROM counters");
        Assert.Equal(42, big[0][1].GetInt64());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task V2_write_stores_points_in_the_bucket_named_db_slash_rp(bool gzip)
    {
        var db = ServersFixture.UniqueName("v2");
        await Stack.Influx.CreateDatabaseAsync(db);
        await Stack.Influx.QueryAsync(db, $"CREATE RETENTION POLICY short ON {db} DURATION 1d REPLICATION 1");
        // Recent timestamps: the 1-day policy would drop older points.
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        var lines = string.Join('\n', Enumerable.Range(0, 100).Select(i => $"m,i={i} v={i}i {start + i}"));
        using var r = await Stack.Client.PostAsync($"api/v2/write?org=any&bucket={db}/short&precision=ms", Body(lines, gzip));
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement[] rows;
        do
        {
            await Task.Delay(100);
            rows = await Rows(Stack.Influx, db, "SELECT count(v) FROM short.m");
        } while ((rows.Length == 0 || rows[0][1].GetInt64() < 100) && DateTime.UtcNow < deadline);
        Assert.Equal(100, rows[0][1].GetInt64());
        var last = await Rows(Stack.Influx, db, "SELECT last(v) FROM short.m");
        Assert.Equal((start + 99) * 1_000_000, last[0][0].GetInt64());
    }

    [Theory]
    [InlineData("n", 1700000000123456789L, 1700000000123456789L)]
    [InlineData("u", 1700000000123456L, 1700000000123456000L)]
    [InlineData("ms", 1700000000123L, 1700000000123000000L)]
    [InlineData("s", 1700000000L, 1700000000000000000L)]
    [InlineData("m", 28333333L, 1699999980000000000L)]
    [InlineData("h", 472222L, 1699999200000000000L)]
    public async Task V1_precisions_are_converted_to_nanoseconds(string precision, long timestamp, long expected)
    {
        var db = ServersFixture.UniqueName("prec");
        using var r = await Stack.Client.PostAsync($"write?db={db}&precision={precision}", Body($"p v=1 {timestamp}", false));
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        await Stack.Influx.WaitForCountAsync(db, "p", 1, TimeSpan.FromSeconds(20));
        var rows = await Rows(Stack.Influx, db, "SELECT v FROM p");
        Assert.Equal(expected, rows[0][0].GetInt64());
    }

    [Fact]
    public async Task A_line_without_timestamp_gets_the_daemons_clock()
    {
        var db = ServersFixture.UniqueName("now");
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        using var r = await Stack.Client.PostAsync($"write?db={db}&precision=s", Body("n v=1", false));
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        await Stack.Influx.WaitForCountAsync(db, "n", 1, TimeSpan.FromSeconds(20));
        var ts = (await Rows(Stack.Influx, db, "SELECT v FROM n"))[0][0].GetInt64();
        Assert.InRange(ts, before / 1_000_000_000 * 1_000_000_000, after);
        Assert.Equal(0, ts % 1_000_000_000); // truncated to the request's precision
    }

    [Fact]
    public async Task Partial_write_keeps_the_good_lines_and_names_the_first_bad_one()
    {
        var db = ServersFixture.UniqueName("partial");
        var body = "cpu value=1 1\ncpu value=invalid 2\ncpu value=3 3\ncpu 4\n";
        using var r = await Stack.Client.PostAsync($"write?db={db}", Body(body, false));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        var error = json.GetProperty("error").GetString()!;
        Assert.StartsWith("partial write:", error);
        Assert.Contains("cpu value=invalid 2", error);
        Assert.Contains("line 2", error);
        Assert.Contains("dropped=2", error);
        Assert.Equal(2, json.GetProperty("line").GetInt32());
        Assert.Equal(2, json.GetProperty("rejected").GetInt32());
        Assert.Equal(2, json.GetProperty("accepted").GetInt32());
        Assert.Equal(4, json.GetProperty("errors")[1].GetProperty("line").GetInt32());
        Assert.True(r.Headers.Contains("X-Influxdb-Error"));

        Assert.Equal(2, await Stack.Influx.WaitForCountAsync(db, "cpu", 2, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task V2_partial_write_answers_in_the_v2_error_shape()
    {
        var db = ServersFixture.UniqueName("partial2");
        using var r = await Stack.Client.PostAsync($"api/v2/write?bucket={db}", Body("a v=1 1\na v=1,v2 2\n", false));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("invalid", json.GetProperty("code").GetString());
        Assert.Contains("line 2", json.GetProperty("message").GetString());
        Assert.Equal("invalid", r.Headers.GetValues("X-Platform-Error-Code").Single());
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "a", 1, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Body_with_only_bad_lines_is_400_and_stores_nothing()
    {
        var db = ServersFixture.UniqueName("bad");
        using var r = await Stack.Client.PostAsync($"write?db={db}", Body("cpu,host= value=1\n", false));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var error = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
        Assert.StartsWith("unable to parse 'cpu,host= value=1'", error);
    }

    [Theory]
    [InlineData("write?db=x&precision=us", "invalid precision \"us\" (use n, u, ms, s, m or h)")]
    [InlineData("api/v2/write?bucket=x&precision=u", "invalid precision; valid precision units are ns, us, ms, and s")]
    [InlineData("write?db=x&consistency=most", "invalid consistency \"most\" (use any, one, quorum or all)")]
    public async Task Bad_parameters_are_400_with_influxdbs_message(string path, string message)
    {
        using var r = await Stack.Client.PostAsync(path, Body("m v=1", false));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        var text = json.TryGetProperty("error", out var e) ? e.GetString() : json.GetProperty("message").GetString();
        Assert.Equal(message, text);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Body_over_the_limit_is_413_and_stores_nothing(bool gzip)
    {
        var db = ServersFixture.UniqueName("big");
        var line = "big,host=aaaaaaaaaaaaaaaaaaaa value=1234567890.123\n";
        var body = new StringBuilder();
        while (body.Length <= SharedStackFixture.MaxBodySize) body.Append(line);
        using var r = await Stack.Client.PostAsync($"write?db={db}", Body(body.ToString(), gzip));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Contains("Request Entity Too Large", await r.Content.ReadAsStringAsync());
        Assert.Equal(0, await Stack.Influx.CountAsync(db, "big"));

        // The same client's next request must not land on the dropped connection.
        using var next = await Stack.Client.PostAsync($"write?db={db}", Body("small v=1 1", false));
        Assert.Equal(HttpStatusCode.NoContent, next.StatusCode);
    }

    [Fact]
    public async Task Corrupt_gzip_is_400()
    {
        var content = new ByteArrayContent([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]);
        content.Headers.ContentEncoding.Add("gzip");
        using var r = await Stack.Client.PostAsync("write?db=x", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("gzip", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Empty_body_is_204()
    {
        using var r = await Stack.Client.PostAsync("write?db=x", new ByteArrayContent([]));
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
    }

    [Fact]
    public async Task Ping_answers_204_with_a_version_header_for_get_and_head()
    {
        using var get = await Stack.Client.GetAsync("ping");
        Assert.Equal(HttpStatusCode.NoContent, get.StatusCode);
        Assert.Equal("1.8.10-ingest", get.Headers.GetValues("X-Influxdb-Version").Single());
        using var head = await Stack.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "ping"));
        Assert.Equal(HttpStatusCode.NoContent, head.StatusCode);
        using var verbose = await Stack.Client.GetAsync("ping?verbose=true");
        Assert.Equal(HttpStatusCode.OK, verbose.StatusCode);
        Assert.Contains("version", await verbose.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Missing_database_is_created_by_the_daemon()
    {
        var db = ServersFixture.UniqueName("created");
        using var r = await Stack.Client.PostAsync($"write?db={db}", Body("c v=1 1", false));
        Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        Assert.Equal(1, await Stack.Influx.WaitForCountAsync(db, "c", 1, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Health_and_ready_report_the_dependencies()
    {
        using var health = await Stack.Client.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        HttpResponseMessage ready;
        while (true)
        {
            ready = await Stack.Client.GetAsync("ready");
            if (ready.StatusCode == HttpStatusCode.OK || DateTime.UtcNow > deadline) break;
            await Task.Delay(200);
        }
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ready", json.GetProperty("status").GetString());
        Assert.Equal("up", json.GetProperty("dependencies").GetProperty("influxdb").GetProperty("status").GetString());
        Assert.Equal("up", json.GetProperty("dependencies").GetProperty("redis").GetProperty("status").GetString());
    }
}
