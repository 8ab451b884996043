using System.Net;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

[Collection(SharedStackCollection.Name)]
public class MetricsTests(SharedStackFixture fixture)
{
    [Fact]
    public async Task Metrics_after_traffic_pass_promtool_and_hold_every_documented_family()
    {
        var client = fixture.Stack.Client;
        var db = ServersFixture.UniqueName("metrics");
        using (var ok = await client.PostAsync($"write?db={db}", new StringContent("m v=1 1\nm v=2 2\n"))) Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        using (var bad = await client.PostAsync($"write?db={db}", new StringContent("m v=1 1\nm v= 2\n"))) Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        await fixture.Stack.Influx.WaitForCountAsync(db, "m", 2, TimeSpan.FromSeconds(20));
        await Task.Delay(300); // the sink counts a batch after InfluxDB answered

        using var response = await client.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var text = await response.Content.ReadAsStringAsync();

        var check = await PromTool.CheckMetricsAsync(text);
        Assert.True(check.ExitCode == 0 && check.StandardError.Trim().Length == 0, check.ToString());

        string[] families =
        [
            "ingest_write_requests_total", "ingest_write_received_bytes_total",
            "ingest_points_received_total", "ingest_points_accepted_total", "ingest_points_rejected_total",
            "ingest_buffer_points", "ingest_buffer_capacity", "ingest_sink_points_pending",
            "ingest_sink_batches_total", "ingest_sink_points_written_total", "ingest_sink_write_duration_seconds",
            "http_server_request_duration_seconds", "dotnet_gc_collections_total", "dotnet_thread_pool_work_item_count_total",
            "ingest_stage_received_total", "ingest_stage_sent_total", "ingest_stage_queue_points",
        ];
        foreach (var family in families) Assert.Contains($"# TYPE {family} ", text);
        Assert.Matches("ingest_points_rejected_total\\{endpoint=\"/write\",reason=\"parse\"\\} [1-9]", text);
        foreach (var stage in new[] { "http", "buffer", "raw", "influx" })
        {
            var m = System.Text.RegularExpressions.Regex.Match(text, $"ingest_stage_received_total\\{{stage=\"{stage}\"\\}} (\\d+)");
            Assert.True(m.Success && long.Parse(m.Groups[1].Value) >= 3, $"stage {stage} counted what it received");
        }
        var accepted = System.Text.RegularExpressions.Regex.Match(text, "ingest_points_accepted_total\\{endpoint=\"/write\"\\} (\\d+)");
        Assert.True(accepted.Success && long.Parse(accepted.Groups[1].Value) >= 3, "accepted points counted");
    }
}
