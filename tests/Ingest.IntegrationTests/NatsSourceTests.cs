using System.Diagnostics;
using System.Text;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ingest.IntegrationTests;

/// <summary>
/// The <c>nats</c> source against a real nats-server (JetStream on) and a real influxd: core subjects with
/// wildcards and a queue group, a JetStream durable consumer across a <c>kill -9</c> of the daemon, a nats-server
/// that goes away and comes back, and bad messages among good ones. Published with the NATS.Net client.
/// </summary>
public class NatsSourceTests
{
    private static readonly NatsRawSerializer<ReadOnlyMemory<byte>> Raw = NatsRawSerializer<ReadOnlyMemory<byte>>.Default;

    [Fact]
    public async Task Core_subjects_with_a_wildcard_and_a_queue_group_land_with_their_measurement_tags_fields_and_times()
    {
        await using var nats = await NatsServer.StartNewAsync();
        var db = ServersFixture.UniqueName("nats_core");
        await using var stack = await StartStackAsync(nats, db, new()
        {
            ["Sources:core:Subjects:0"] = "metrics.*.cpu",
            ["Sources:core:Subjects:1"] = "metrics.mem.>",
            ["Sources:core:QueueGroup"] = "ingest",
        });
        await using var client = await ConnectAsync(nats);
        await WaitUntilFlowingAsync(stack, client, "core", "metrics.probe.cpu");

        await client.PublishAsync("metrics.a.cpu", Bytes("cpu,host=a usage=1.5,cores=4i 1000000000\ncpu,host=a usage=2.5,cores=4i 2000000000\n"), serializer: Raw);
        await client.PublishAsync("metrics.b.cpu", Bytes("cpu,host=b usage=3.5,cores=8i 3000000000"), serializer: Raw);
        await client.PublishAsync("metrics.mem.node.1", Bytes("mem,host=a free=10i,ok=true 4000000000"), serializer: Raw);
        // Not subscribed: neither a second token under metrics.*.cpu nor another subject.
        await client.PublishAsync("metrics.a.b.cpu", Bytes("cpu,host=x usage=9 5000000000"), serializer: Raw);
        await client.PublishAsync("other.cpu", Bytes("cpu,host=y usage=9 6000000000"), serializer: Raw);

        Assert.Equal(3, await stack.Influx.WaitForCountAsync(db, "cpu", 3, TimeSpan.FromSeconds(20)));
        Assert.Equal(1, await stack.Influx.WaitForCountAsync(db, "mem", 1, TimeSpan.FromSeconds(20)));
        var cpu = await InfluxRows.QueryAsync(stack.Influx, db, "SELECT usage, cores, host FROM cpu");
        var rows = cpu.Single().Values.Select(r => (
            Time: (long)InfluxRows.Number(r[0])!.Value, Usage: InfluxRows.Number(r[1]), Cores: InfluxRows.Number(r[2]),
            Host: r[3].GetString())).ToArray();
        Assert.Equal([(1000000000L, 1.5, 4.0, "a"), (2000000000L, 2.5, 4.0, "a"), (3000000000L, 3.5, 8.0, "b")],
            rows.Select(r => (r.Time, r.Usage!.Value, r.Cores!.Value, r.Host)).ToArray());
        var mem = await InfluxRows.QueryAsync(stack.Influx, db, "SELECT free, ok, host FROM mem");
        var m = mem.Single().Values.Single();
        Assert.Equal(4000000000L, (long)InfluxRows.Number(m[0])!.Value);
        Assert.Equal(10.0, InfluxRows.Number(m[1]));
        Assert.True(m[2].GetBoolean());
        Assert.Equal("a", m[3].GetString());
    }

    [Fact]
    public async Task Bad_messages_among_good_ones_are_counted_and_the_good_points_land()
    {
        await using var nats = await NatsServer.StartNewAsync();
        var db = ServersFixture.UniqueName("nats_bad");
        await using var stack = await StartStackAsync(nats, db, new() { ["Sources:core:Subjects:0"] = "bad.>" });
        await using var client = await ConnectAsync(nats);
        await WaitUntilFlowingAsync(stack, client, "core", "bad.probe");

        var good = 0;
        var bad = 0;
        for (var i = 1; i <= 30; i++)
        {
            string payload;
            if (i % 5 == 0) { payload = "this is not line protocol"; bad++; }
            else if (i % 7 == 0) { payload = $"m v=1 {i}000000000\nm v= {i}000000001\nm,=x v=2"; good++; bad += 2; }
            else { payload = $"m v={i} {i}000000000"; good++; }
            await client.PublishAsync("bad." + i, Bytes(payload), serializer: Raw);
        }
        await client.PublishAsync("bad.empty", ReadOnlyMemory<byte>.Empty, serializer: Raw);

        Assert.Equal(good, await stack.Influx.WaitForCountAsync(db, "m", good, TimeSpan.FromSeconds(20)));
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"core\"}") == bad, TimeSpan.FromSeconds(10)),
            $"decode errors {await stack.Daemon.MetricAsync("ingest_source_decode_errors_total{source=\"core\"}")}, expected {bad}");
        // The source goes on after bad messages.
        await client.PublishAsync("bad.after", Bytes("m v=99 99000000000"), serializer: Raw);
        Assert.Equal(good + 1, await stack.Influx.WaitForCountAsync(db, "m", good + 1, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task JetStream_messages_all_land_across_a_kill_9_of_the_daemon_while_a_producer_publishes()
    {
        await using var nats = await NatsServer.StartNewAsync();
        await using var client = await ConnectAsync(nats);
        var js = new NatsJSContext(client);
        await js.CreateStreamAsync(new StreamConfig("TELEMETRY", ["telemetry.>"]));
        var db = ServersFixture.UniqueName("nats_js");
        await using var stack = await StartStackAsync(nats, db, new()
        {
            ["Sources:js:JetStream:Stream"] = "TELEMETRY",
            ["Sources:js:JetStream:Durable"] = "ingest",
            ["Sources:js:JetStream:FilterSubject"] = "telemetry.>",
            // Messages taken but not acknowledged at the kill come again soon.
            ["Sources:js:JetStream:AckWait"] = "2s",
        }, name: "js");

        // Before the daemon's first start reached it, and after: both land (DeliverPolicy all).
        const int messages = 2000, perMessage = 10;
        var published = 0;
        using var produce = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++)
            {
                var lines = new StringBuilder();
                for (var j = 0; j < perMessage; j++)
                    lines.Append("seq,producer=p v=").Append(i).Append("i ").Append(1_000_000_000L + (long)i * perMessage + j).Append('\n');
                var ack = await js.PublishAsync($"telemetry.node.{i % 7}", Bytes(lines.ToString()), serializer: Raw, cancellationToken: produce.Token);
                ack.EnsureSuccess();
                Interlocked.Increment(ref published);
                await Task.Delay(5, produce.Token);
            }
        });

        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "seq") > messages * perMessage / 10, TimeSpan.FromSeconds(60)),
            "points did not start landing:\n" + DaemonApi.Tail(stack));
        stack.Daemon.Kill();
        Assert.True(await stack.Daemon.WaitForExitAsync());
        Assert.False(producer.IsCompleted, $"the producer finished before the kill ({published} published)");
        await Task.Delay(500);
        await stack.Daemon.StartAgainAsync();
        await producer;

        const int expected = messages * perMessage;
        var landed = await stack.Influx.WaitForCountAsync(db, "seq", expected, TimeSpan.FromSeconds(30));
        if (landed != expected)
        {
            var info = (await js.GetConsumerAsync("TELEMETRY", "ingest")).Info;
            Assert.Fail($"{landed} of {expected} points landed; consumer: ack pending {info.NumAckPending}, pending {info.NumPending}, " +
                $"redelivered {info.NumRedelivered}, delivered {info.Delivered.ConsumerSeq}\n" +
                string.Join("\n", (await stack.Client.GetStringAsync("metrics")).Split('\n').Where(l => l.Contains("source") && !l.StartsWith('#'))) +
                "\n" + await stack.Client.GetStringAsync("api/status"));
        }
        var times = (await InfluxRows.QueryAsync(stack.Influx, db, "SELECT v FROM seq")).Single().Values
            .Select(r => (long)InfluxRows.Number(r[0])!.Value).ToArray();
        Assert.Equal(Enumerable.Range(0, expected).Select(i => 1_000_000_000L + i), times);
        // Acknowledged as admitted: nothing stays pending on the consumer.
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
        {
            var info = (await js.GetConsumerAsync("TELEMETRY", "ingest")).Info;
            return info.NumAckPending == 0 && info.NumPending == 0;
        }, TimeSpan.FromSeconds(20)), "messages left unacknowledged on the consumer");
    }

    [Fact]
    public async Task A_nats_server_that_comes_back_on_its_port_is_read_again_within_2_s_and_the_reconnect_is_counted()
    {
        await using var nats = await NatsServer.StartNewAsync();
        var db = ServersFixture.UniqueName("nats_back");
        await using var stack = await StartStackAsync(nats, db, new() { ["Sources:core:Subjects:0"] = "back.>" });
        await using (var client = await ConnectAsync(nats))
            await WaitUntilFlowingAsync(stack, client, "core", "back.probe");
        Assert.Equal(0, await stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"core\"}"));

        await nats.StopAsync();
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await stack.Daemon.MetricAsync("ingest_source_state{source=\"core\",state=\"connected\"}") == 0, TimeSpan.FromSeconds(10)), "still connected");
        await Task.Delay(3000);
        await nats.StartAsync();
        var back = Stopwatch.StartNew();

        var before = await stack.Daemon.MetricAsync("ingest_source_messages_total{source=\"core\"}");
        await using var again = await ConnectAsync(nats);
        var resumed = await DaemonApi.WaitUntilAsync(async () =>
        {
            await again.PublishAsync("back.after", Bytes($"after v=1 {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000}"), serializer: Raw);
            return await stack.Daemon.MetricAsync("ingest_source_messages_total{source=\"core\"}") > before;
        }, TimeSpan.FromSeconds(10), pollMs: 50);
        var elapsed = back.Elapsed;
        Assert.True(resumed, "the source did not read again:\n" + DaemonApi.Tail(stack));
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"read again only {elapsed.TotalMilliseconds:0} ms after the server returned");
        Assert.True(await stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"core\"}") >= 1);
        Assert.Equal(1, await stack.Daemon.MetricAsync("ingest_source_state{source=\"core\",state=\"connected\"}"));
    }

    [Fact]
    public async Task A_JetStream_consumer_reads_on_after_the_nats_server_restarts_and_every_message_lands()
    {
        await using var nats = await NatsServer.StartNewAsync();
        var db = ServersFixture.UniqueName("nats_js_back");
        await using (var setup = await ConnectAsync(nats))
            await new NatsJSContext(setup).CreateStreamAsync(new StreamConfig("BACK", ["back.>"]));
        await using var stack = await StartStackAsync(nats, db, new()
        {
            ["Sources:js:JetStream:Stream"] = "BACK",
            ["Sources:js:JetStream:Durable"] = "ingest",
        }, name: "js");

        async Task PublishAsync(int first, int count)
        {
            await using var client = await ConnectAsync(nats);
            var js = new NatsJSContext(client);
            for (var i = first; i < first + count; i++)
                (await js.PublishAsync("back.m", Bytes($"jsback v={i}i {1_000_000_000L + i}"), serializer: Raw)).EnsureSuccess();
        }

        await PublishAsync(0, 50);
        Assert.Equal(50, await stack.Influx.WaitForCountAsync(db, "jsback", 50, TimeSpan.FromSeconds(30)));

        // The stream is on disk (-sd): it is there again when the server is; so is the durable consumer.
        await nats.StopAsync();
        Assert.True(await DaemonApi.WaitUntilAsync(async () =>
            await stack.Daemon.MetricAsync("ingest_source_state{source=\"js\",state=\"connected\"}") == 0, TimeSpan.FromSeconds(10)), "still connected");
        await nats.StartAsync();
        var back = Stopwatch.StartNew();
        await PublishAsync(50, 50);

        var landed = await stack.Influx.WaitForCountAsync(db, "jsback", 100, TimeSpan.FromSeconds(30));
        Assert.True(landed == 100, $"{landed} of 100 points after the restart:\n" + DaemonApi.Tail(stack));
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(2), $"the messages published after the restart took {back.Elapsed.TotalSeconds:0.0} s to land");
        Assert.True(await stack.Daemon.MetricAsync("ingest_source_reconnects_total{source=\"js\"}") >= 1);
    }

    internal static async Task<IngestStack> StartStackAsync(NatsServer nats, string db, Dictionary<string, string> source, string name = "core")
    {
        var settings = new Dictionary<string, string>
        {
            [$"Sources:{name}:Type"] = "nats",
            [$"Sources:{name}:Url"] = nats.Url,
            [$"Sources:{name}:Database"] = db,
            [$"Sources:{name}:BatchInterval"] = "20ms",
        };
        foreach (var (k, v) in source) settings[k] = v;
        var stack = await IngestStack.StartAsync(settings);
        await stack.Influx.CreateDatabaseAsync(db);
        return stack;
    }

    internal static async Task<NatsConnection> ConnectAsync(NatsServer nats)
    {
        var client = new NatsConnection(NatsOpts.Default with { Url = nats.Url, Name = "test-publisher" });
        await client.ConnectAsync();
        return client;
    }

    /// <summary>
    /// Publishes a probe point on <paramref name="subject"/> until the source counts a message: a core subscription
    /// takes only what is published after it was made.
    /// </summary>
    internal static async Task WaitUntilFlowingAsync(IngestStack stack, NatsConnection client, string source, string subject)
    {
        var flowing = await DaemonApi.WaitUntilAsync(async () =>
        {
            await client.PublishAsync(subject, Bytes("probe v=1"), serializer: Raw);
            return await stack.Daemon.MetricAsync($"ingest_source_messages_total{{source=\"{source}\"}}") > 0;
        }, TimeSpan.FromSeconds(30), pollMs: 100);
        Assert.True(flowing, "the source took no message:\n" + DaemonApi.Tail(stack));
    }

    internal static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);
}
