using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using Microsoft.Data.Sqlite;

namespace Ingest.IntegrationTests;

/// <summary>
/// <c>sql</c> sources against a real SQLite file and a real PostgreSQL server: each poll's rows land in InfluxDB
/// with the mapped measurement, tags, typed fields and times, a row without fields is counted as a decode error,
/// and a later poll carries what changed in the table.
/// </summary>
public class SqlSourceTests
{
    /// <summary>2024-05-01T12:00:00Z in unix seconds.</summary>
    private const long Noon = 1714564800;

    private const string Rows = """
        INSERT INTO readings VALUES ('a', 'eu', 'cpu', 21.5, 3, TRUE, 'fine', {0});
        INSERT INTO readings VALUES ('b', 'us west', 'cpu', NULL, 7, FALSE, 'say "hi", ok=1', {1});
        INSERT INTO readings VALUES ('c', NULL, 'cpu', NULL, NULL, NULL, NULL, {2});
        """;

    /// <summary>Runs one statement on a SQLite file of the test's own, in a connection of its own.</summary>
    private static async Task ExecSqliteAsync(string connectionString, string sql)
    {
        await using var c = new SqliteConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task SQLite_rows_land_typed_with_their_tags_and_times_and_a_later_poll_brings_the_changes()
    {
        var dir = Directory.CreateTempSubdirectory("ingest-sqlite-");
        try
        {
            var file = Path.Combine(dir.FullName, "plant.db");
            // Pooling off: the test's connections must not keep the file open after the test.
            var cs = $"Data Source={file};Pooling=False";
            Task Exec(string sql) => ExecSqliteAsync(cs, sql);
            await Exec("CREATE TABLE readings (host TEXT, region TEXT, kind TEXT, temp DOUBLE PRECISION, count INTEGER, ok BOOLEAN, note TEXT, at TEXT)");
            await Exec(string.Format(Rows, "'2024-05-01 12:00:00'", "'2024-05-01 12:00:01'", "'2024-05-01 12:00:02'"));

            var db = ServersFixture.UniqueName("sql_lite");
            await using var stack = await IngestStack.StartAsync(Source("lite", db, new()
            {
                ["Provider"] = "sqlite",
                ["ConnectionString"] = $"Data Source={file};Mode=ReadOnly",
                ["Query"] = "SELECT host, region, temp, count, ok, note, at FROM readings",
                ["Measurement"] = "plant temps",
                ["TagColumns:0"] = "host",
                ["TagColumns:1"] = "region",
                ["TimeColumn"] = "at",
            }));

            await AssertFirstPollAsync(stack, db, "plant temps", "lite");
            await Exec("UPDATE readings SET temp = 22.5 WHERE host = 'a'; INSERT INTO readings VALUES ('d', 'eu', 'cpu', 19.0, 1, TRUE, NULL, '2024-05-01 12:00:03')");
            await AssertChangesAsync(stack, db, "plant temps");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task PostgreSQL_rows_land_typed_with_their_tags_and_times_and_a_later_poll_brings_the_changes()
    {
        await using var pg = await PostgresServer.StartNewAsync();
        await pg.ExecuteAsync("postgres", "CREATE DATABASE plant");
        await pg.ExecuteAsync("plant",
            "CREATE TABLE readings (host TEXT, region TEXT, kind TEXT, temp DOUBLE PRECISION, count INTEGER, ok BOOLEAN, note TEXT, at TIMESTAMPTZ)",
            string.Format(Rows, "'2024-05-01 12:00:00+00'", "'2024-05-01 14:00:01+02'", "'2024-05-01 12:00:02+00'"));

        var db = ServersFixture.UniqueName("sql_pg");
        await using var stack = await IngestStack.StartAsync(Source("pg", db, new()
        {
            ["Provider"] = "postgresql",
            ["ConnectionString"] = pg.ConnectionString("plant"),
            ["Query"] = "SELECT host, region, kind, temp, count, ok, note, at FROM readings",
            ["MeasurementColumn"] = "kind",
            ["TagColumns:0"] = "host",
            ["TagColumns:1"] = "region",
            ["TimeColumn"] = "at",
        }));

        await AssertFirstPollAsync(stack, db, "cpu", "pg");
        await pg.ExecuteAsync("plant", "UPDATE readings SET temp = 22.5 WHERE host = 'a'",
            "INSERT INTO readings VALUES ('d', 'eu', 'cpu', 19.0, 1, TRUE, NULL, '2024-05-01 12:00:03+00')");
        await AssertChangesAsync(stack, db, "cpu");
        Assert.DoesNotContain(PostgresServer.Password, stack.Daemon.Output);
    }

    [Fact]
    public async Task An_incremental_query_reads_only_rows_newer_than_the_newest_time_seen()
    {
        var dir = Directory.CreateTempSubdirectory("ingest-sqlite-");
        try
        {
            var file = Path.Combine(dir.FullName, "events.db");
            var cs = $"Data Source={file};Pooling=False";
            Task Exec(string sql) => ExecSqliteAsync(cs, sql);
            var ms = Noon * 1000;
            await Exec($"CREATE TABLE events (at_ms INTEGER, v DOUBLE PRECISION); INSERT INTO events VALUES ({ms}, 1), ({ms + 1000}, 2)");

            var db = ServersFixture.UniqueName("sql_incr");
            await using var stack = await IngestStack.StartAsync(Source("events", db, new()
            {
                ["Provider"] = "sqlite",
                ["ConnectionString"] = $"Data Source={file};Mode=ReadOnly",
                ["Query"] = "SELECT at_ms, v FROM events WHERE at_ms > @last_time ORDER BY at_ms",
                ["Measurement"] = "ev",
                ["TimeColumn"] = "at_ms",
                ["TimeFormat"] = "ms",
            }));
            Assert.Equal(2, await stack.Influx.WaitForCountAsync(db, "ev", 2, TimeSpan.FromSeconds(30)));

            // The old row changes but is not newer: it is not read again. The new row is.
            await Exec($"UPDATE events SET v = 100 WHERE at_ms = {ms}; INSERT INTO events VALUES ({ms + 2000}, 3)");
            Assert.Equal(3, await stack.Influx.WaitForCountAsync(db, "ev", 3, TimeSpan.FromSeconds(30)));
            await Task.Delay(2500);
            var rows = (await InfluxRows.QueryAsync(stack.Influx, db, "SELECT v FROM ev")).Single().Values;
            Assert.Equal([(Noon * 1_000_000_000, 1.0), ((Noon + 1) * 1_000_000_000, 2.0), ((Noon + 2) * 1_000_000_000, 3.0)],
                rows.Select(r => ((long)InfluxRows.Number(r[0])!.Value, InfluxRows.Number(r[1])!.Value)));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_database_that_cannot_be_reached_backs_the_source_off_without_stopping_the_daemon()
    {
        var db = ServersFixture.UniqueName("sql_down");
        await using var stack = await IngestStack.StartAsync(Source("down", db, new()
        {
            ["Provider"] = "postgresql",
            ["ConnectionString"] = $"Host=127.0.0.1;Port={FreePort.Next()};Username=u;Password=Down-Secret-99;Timeout=2",
            ["Query"] = "SELECT 1 AS v",
            ["Measurement"] = "m",
        }));
        JsonElement status = default;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            status = await SourceStatusAsync(stack, "down");
            return status.GetProperty("state").GetString() == "backing_off";
        }, TimeSpan.FromSeconds(20)), status.ToString());
        Assert.Contains("poll of 127.0.0.1", status.GetProperty("lastError").GetString());
        using var health = await stack.Client.GetAsync("health");
        Assert.True(health.IsSuccessStatusCode);
        Assert.DoesNotContain("Down-Secret-99", stack.Daemon.Output);
    }

    /// <summary>Rows a and b land; c has no field (every field column NULL) and is one decode error.</summary>
    private static async Task AssertFirstPollAsync(IngestStack stack, string db, string measurement, string source)
    {
        Assert.Equal(2, await stack.Influx.WaitForCountAsync(db, measurement, 2, TimeSpan.FromSeconds(30)));
        var q = InfluxServer.QuoteIdentifier(measurement);

        var types = (await InfluxRows.QueryAsync(stack.Influx, db, $"SHOW FIELD KEYS FROM {q}")).Single().Values
            .ToDictionary(r => r[0].GetString()!, r => r[1].GetString()!);
        Assert.Equal(new Dictionary<string, string> { ["temp"] = "float", ["count"] = "integer", ["ok"] = "boolean", ["note"] = "string" }, types);

        var series = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT temp, count, ok, note FROM {q} GROUP BY *");
        Assert.Equal(2, series.Count);
        var a = series.Single(s => s.Tags["host"] == "a");
        Assert.Equal("eu", a.Tags["region"]);
        Assert.Equal(Noon * 1_000_000_000, (long)InfluxRows.Number(a.Values[0][0])!.Value);
        Assert.Equal(21.5, InfluxRows.Number(a.Values[0][1]));
        Assert.Equal(3, InfluxRows.Number(a.Values[0][2]));
        Assert.True(a.Values[0][3].GetBoolean());
        Assert.Equal("fine", a.Values[0][4].GetString());

        var b = series.Single(s => s.Tags["host"] == "b");
        Assert.Equal("us west", b.Tags["region"]);
        Assert.Equal((Noon + 1) * 1_000_000_000, (long)InfluxRows.Number(b.Values[0][0])!.Value);
        Assert.Equal(JsonValueKind.Null, b.Values[0][1].ValueKind);
        Assert.False(b.Values[0][3].GetBoolean());
        Assert.Equal("say \"hi\", ok=1", b.Values[0][4].GetString());

        var errors = 0L;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            errors = (await SourceStatusAsync(stack, source)).GetProperty("decodeErrors").GetInt64();
            return errors >= 1;
        }, TimeSpan.FromSeconds(10)), "no decode error for the row without fields");
        Assert.Contains("sql row 3 skipped: it has no field (every field column is NULL)", stack.Daemon.Output);
    }

    /// <summary>After a's temp went to 22.5 and d was added, a later poll carries both.</summary>
    private static async Task AssertChangesAsync(IngestStack stack, string db, string measurement)
    {
        var q = InfluxServer.QuoteIdentifier(measurement);
        double? temp = null;
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            var rows = await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT temp FROM {q} WHERE host = 'a'");
            temp = rows.SingleOrDefault()?.Values.Single()[1] is { } cell ? InfluxRows.Number(cell) : null;
            return temp == 22.5;
        }, TimeSpan.FromSeconds(20)), $"temp of a is {temp}\n{DaemonApi.Tail(stack)}");
        Assert.Equal(3, await stack.Influx.WaitForCountAsync(db, measurement, 3, TimeSpan.FromSeconds(20)));
        var d = (await InfluxRows.QueryAsync(stack.Influx, db, $"SELECT temp FROM {q} WHERE host = 'd'")).Single().Values.Single();
        Assert.Equal((Noon + 3) * 1_000_000_000, (long)InfluxRows.Number(d[0])!.Value);
        Assert.Equal(19.0, InfluxRows.Number(d[1]));
    }

    internal static Dictionary<string, string> Source(string name, string db, Dictionary<string, string> keys)
    {
        var settings = new Dictionary<string, string>
        {
            [$"Sources:{name}:Type"] = keys.Remove("Type", out var type) ? type : "sql",
            [$"Sources:{name}:Database"] = db,
        };
        if (!keys.ContainsKey("Interval") && settings[$"Sources:{name}:Type"] == "sql") keys["Interval"] = "1s";
        foreach (var (k, v) in keys) settings[$"Sources:{name}:{k}"] = v;
        return settings;
    }

    internal static async Task<JsonElement> SourceStatusAsync(IngestStack stack, string name)
    {
        var root = JsonDocument.Parse(await stack.Client.GetStringAsync("api/status")).RootElement;
        return root.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("name").GetString() == name).Clone();
    }
}

/// <summary>A sql or udp source configured wrongly stops the start with exit code 2, naming the key (and never a password).</summary>
public class SqlUdpConfigurationTests
{
    private static string Loopback() => $"http://127.0.0.1:{DaemonProcess.FreeLoopbackPort()}";

    [Theory]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Measurement=m", "Sources:s:Query = ''")]
    [InlineData("Provider=oracle|ConnectionString=x|Query=SELECT 1|Measurement=m", "Sources:s:Provider = 'oracle': expected one of: sqlite, postgresql")]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Query=SELECT 1", "Sources:s:Measurement = '': give either Measurement")]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Query=SELECT 1|Measurement=m|Qeury=x", "unknown configuration key Sources:s:Qeury")]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Query=SELECT 1|Measurement=m|Interval=soon", "Sources:s:Interval = 'soon'")]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Query=SELECT 1|Measurement=m|TimeColumn=t|TimeFormat=weeks", "Sources:s:TimeFormat = 'weeks'")]
    [InlineData("Provider=sqlite|ConnectionString=Data Source=x.db|Query=SELECT * FROM t WHERE at > @last_time|Measurement=m", "Sources:s:Query = 'SELECT * FROM t WHERE at > @last_time': @last_time is the newest time")]
    [InlineData("Provider=postgresql|ConnectionString=Host=h;Pwd=hunter22;Bogus=1|Query=SELECT 1|Measurement=m", "Sources:s:ConnectionString = 'Host=h;Pwd=***;Bogus=1': not a postgresql connection string")]
    [InlineData("Type=udp|Listen=nowhere", "Sources:s:Listen = 'nowhere': expected an IP address and port")]
    [InlineData("Type=udp|ReadBuffer=lots", "Sources:s:ReadBuffer = 'lots'")]
    public async Task A_bad_key_stops_the_start_with_exit_code_2_naming_it(string keys, string expected)
    {
        var args = new List<string>();
        if (!keys.StartsWith("Type=", StringComparison.Ordinal)) args.Add("--Sources:s:Type=sql");
        args.AddRange(keys.Split('|').Select(k => "--Sources:s:" + k));
        args.AddRange(["--urls", Loopback()]);
        var (exit, output) = await DaemonProcess.RunToExitAsync([.. args]);
        Assert.True(exit == 2, $"exit code {exit}:\n{output}");
        Assert.Contains(expected, output);
        Assert.DoesNotContain("hunter22", output);
        Assert.DoesNotContain("   at ", output);
    }
}
