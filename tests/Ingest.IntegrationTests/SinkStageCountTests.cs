using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary>
/// The <c>influx</c> stage of <c>/api/status</c> tells what became of its points, as <c>/metrics</c> does: a real
/// influxd refuses some of them (a field type conflict: a partial write naming how many it dropped; a retention
/// policy that does not exist: the whole write), and once the sink is idle the stage shows the stored points as
/// sent, the lost ones as dropped and the ones set aside as dead-lettered, each under the metric's reason, with
/// received = sent + dropped + dead-lettered.
/// </summary>
[Collection(ServersCollection.Name)]
public class SinkStageCountTests(ServersFixture servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Dictionary<string, string> Settings(InfluxServer influx, bool deadLetter) => new()
    {
        ["Influx:Url"] = influx.Url,
        ["Influx:FlushInterval"] = "50ms",
        ["Influx:RetryInitialDelay"] = "20ms",
        ["Influx:RetryMaxDelay"] = "200ms",
        ["DeadLetter:Enabled"] = deadLetter ? "true" : "false",
    };

    private static async Task WriteAsync(DaemonProcess daemon, string db, IEnumerable<string> lines, string rp = "")
    {
        var query = $"write?db={db}{(rp.Length > 0 ? "&rp=" + rp : "")}";
        using var r = await daemon.Client.PostAsync(query, new StringContent(string.Join('\n', lines) + "\n", Encoding.UTF8, "text/plain"));
        Assert.True(r.StatusCode == HttpStatusCode.NoContent, $"POST /{query} answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
    }

    /// <summary>
    /// Writes the field test's mix: 5 integer points (stored), then 10 points of which 3 are strings for a field
    /// InfluxDB holds as integer (a partial write: 7 stored, 3 refused), then 4 points for the retention policy
    /// <c>nope</c> (refused whole). 19 received, 12 stored, 7 refused. The daemon refuses at the door what it knows
    /// InfluxDB would refuse, so the field and the policy change on InfluxDB after the daemon learned the
    /// database: as when another client changes it, which is only found out at delivery.
    /// </summary>
    private static async Task WriteTheMixAsync(DaemonProcess daemon, InfluxServer influx, string db)
    {
        var t = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds() * 1_000_000;
        await influx.CreateDatabaseAsync(db);
        await influx.QueryAsync("", $"CREATE RETENTION POLICY nope ON {InfluxServer.QuoteIdentifier(db)} DURATION 1d REPLICATION 1");
        // The daemon's first write to the database: it learns it as it is now (policy nope, no field v).
        await WriteAsync(daemon, db, Enumerable.Range(0, 5).Select(i => $"m,host=a w={i}i {t + i}"));
        Assert.Equal(5, await influx.WaitForCountAsync(db, "m", 5, Patience));
        await influx.WriteAsync(db, $"m,host=a v=0i {t - 1}");
        await influx.QueryAsync("", $"DROP RETENTION POLICY nope ON {InfluxServer.QuoteIdentifier(db)}");
        await WriteAsync(daemon, db, Enumerable.Range(5, 10).Select(i => i % 3 == 0 ? $"m,host=a v=\"s{i}\" {t + i}" : $"m,host=a w={i}i {t + i}"));
        await WriteAsync(daemon, db, Enumerable.Range(15, 4).Select(i => $"m,host=a w={i}i {t + i}"), rp: "nope");
    }

    /// <summary>The <c>influx</c> stage of <c>/api/status</c>.</summary>
    private static async Task<JsonElement> StageAsync(DaemonProcess daemon)
    {
        using var status = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status"));
        return status.RootElement.GetProperty("stages").EnumerateArray()
            .Single(s => s.GetProperty("name").GetString() == "influx").Clone();
    }

    private static Dictionary<string, long> Counts(JsonElement stage, string property) =>
        stage.TryGetProperty(property, out var counts) && counts.ValueKind == JsonValueKind.Object
            ? counts.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64())
            : [];

    private static string Show(Dictionary<string, long> counts) =>
        "{" + string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}: {c.Value}")) + "}";

    /// <summary>
    /// Waits until the metrics show every refused point with its reason (<paramref name="samples"/>), the stage has
    /// received all 19 and holds none (queue 0), i.e. the sink is idle; returns the stage then.
    /// </summary>
    private static async Task<JsonElement> IdleStageAsync(DaemonProcess daemon, params string[] samples)
    {
        JsonElement stage = default;
        var idle = await DaemonApi.WaitUntilAsync(async () =>
        {
            foreach (var sample in samples)
                if (await daemon.MetricAsync(sample) == 0) return false;
            stage = await StageAsync(daemon);
            return stage.GetProperty("received").GetInt64() == 19 && stage.GetProperty("queue").GetProperty("points").GetInt64() == 0;
        }, Patience, pollMs: 100);
        Assert.True(idle, $"the sink did not finish the 19 points: stage {stage}\n{daemon.Output}");
        return stage;
    }

    private static void AssertBalanced(JsonElement stage)
    {
        var received = stage.GetProperty("received").GetInt64();
        var sent = stage.GetProperty("sent").GetInt64();
        var dropped = Counts(stage, "dropped");
        var deadLettered = Counts(stage, "deadLettered");
        Assert.True(received == sent + dropped.Values.Sum() + deadLettered.Values.Sum(),
            $"received {received} ≠ sent {sent} + dropped {Show(dropped)} + deadLettered {Show(deadLettered)}");
    }

    [Fact]
    public async Task With_the_dead_letter_off_points_InfluxDB_refuses_count_as_dropped_on_the_sink_stage_under_the_metrics_reason()
    {
        var influx = servers.Influx;
        var db = ServersFixture.UniqueName("stagedrop");
        await using var daemon = await DaemonProcess.StartAsync(Settings(influx, deadLetter: false));
        await WriteTheMixAsync(daemon, influx, db);

        var stage = await IdleStageAsync(daemon,
            "ingest_sink_points_dropped_total{reason=\"rejected\",sink=\"influx\"}",
            "ingest_sink_points_dropped_total{reason=\"retention_policy_not_found\",sink=\"influx\"}");
        Assert.Equal(12, await influx.CountAsync(db, "m"));
        Assert.Equal(3, await daemon.MetricAsync("ingest_sink_points_dropped_total{reason=\"rejected\",sink=\"influx\"}"));
        Assert.Equal(4, await daemon.MetricAsync("ingest_sink_points_dropped_total{reason=\"retention_policy_not_found\",sink=\"influx\"}"));

        var dropped = Counts(stage, "dropped");
        Assert.True(stage.GetProperty("sent").GetInt64() == 12 && dropped.GetValueOrDefault("rejected") == 3
                                                              && dropped.GetValueOrDefault("retention_policy_not_found") == 4,
            $"the influx stage should show 12 sent and dropped {{rejected: 3, retention_policy_not_found: 4}}, as InfluxDB and /metrics do; it shows sent {stage.GetProperty("sent")}, dropped {Show(dropped)}: {stage}");
        Assert.Empty(Counts(stage, "deadLettered"));
        AssertBalanced(stage);
        // The stage's own metric says the same.
        Assert.Equal(3, await daemon.MetricAsync("ingest_stage_dropped_total{reason=\"rejected\",stage=\"influx\"}"));
    }

    [Fact]
    public async Task Points_set_aside_in_the_dead_letter_count_as_dead_lettered_on_the_sink_stage_under_the_metrics_reason()
    {
        var influx = servers.Influx;
        var db = ServersFixture.UniqueName("stagedl");
        await using var daemon = await DaemonProcess.StartAsync(Settings(influx, deadLetter: true));
        await WriteTheMixAsync(daemon, influx, db);

        var stage = await IdleStageAsync(daemon,
            "ingest_sink_points_dead_lettered_total{reason=\"partial\",sink=\"influx\"}",
            "ingest_sink_points_dead_lettered_total{reason=\"retention_policy_not_found\",sink=\"influx\"}");
        Assert.Equal(12, await influx.CountAsync(db, "m"));
        Assert.Equal(3, await daemon.MetricAsync("ingest_sink_points_dead_lettered_total{reason=\"partial\",sink=\"influx\"}"));
        Assert.Equal(4, await daemon.MetricAsync("ingest_sink_points_dead_lettered_total{reason=\"retention_policy_not_found\",sink=\"influx\"}"));

        var deadLettered = Counts(stage, "deadLettered");
        Assert.True(stage.GetProperty("sent").GetInt64() == 12 && deadLettered.GetValueOrDefault("partial") == 3
                                                              && deadLettered.GetValueOrDefault("retention_policy_not_found") == 4,
            $"the influx stage should show 12 sent and deadLettered {{partial: 3, retention_policy_not_found: 4}}, as InfluxDB and /metrics do; it shows sent {stage.GetProperty("sent")}, deadLettered {Show(deadLettered)}: {stage}");
        // Set aside is not lost: nothing is dropped.
        Assert.Empty(Counts(stage, "dropped"));
        AssertBalanced(stage);
        using var status = JsonDocument.Parse(await daemon.Client.GetStringAsync("api/status"));
        Assert.Equal(7, status.RootElement.GetProperty("deadLetter").GetProperty("pointsSinceStart").GetInt64());
    }
}
