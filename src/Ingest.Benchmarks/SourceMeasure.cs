using System.Diagnostics;
using System.Globalization;
using System.Text;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Net;

namespace Ingest.Benchmarks;

/// <summary>
/// How fast a running daemon takes points from a NATS source against its own HTTP <c>/write</c>, in one session
/// (<c>-- source-nats --daemon URL --nats URL --subject S --source NAME [--jetstream STREAM] [--payloads N] [--points N]
/// [--rounds N] [--db DB]</c>). Each round publishes N payloads of the same line-protocol points (distinct
/// timestamps per round) and times until the source's stage has admitted them all (<c>ingest_stage_sent_total</c>),
/// then posts the same payloads to <c>/write</c> (4 at a time) and times until every one is answered 204, which the
/// daemon says only once admitted. Rounds alternate the order (NATS first, then HTTP first); between runs it waits
/// for the daemon's buffer to drain into InfluxDB, so both start from the same state.
/// </summary>
public static class SourceMeasure
{
    public static async Task RunAsync(string[] args)
    {
        string daemon = "http://127.0.0.1:8186", nats = "nats://127.0.0.1:4222", subject = "bench.lp", source = "nats", db = "bench";
        int payloads = 500, points = 1000, rounds = 3;
        var jetStream = false;
        var stream = "";
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--daemon": daemon = args[++i]; break;
                case "--nats": nats = args[++i]; break;
                case "--subject": subject = args[++i]; break;
                case "--source": source = args[++i]; break;
                case "--db": db = args[++i]; break;
                case "--payloads": payloads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--points": points = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--jetstream": jetStream = true; stream = args[++i]; break;
                default: throw new ArgumentException("unknown argument " + args[i]);
            }
        }
        using var http = new HttpClient { BaseAddress = new Uri(daemon), Timeout = TimeSpan.FromMinutes(5) };
        await using var connection = new NatsConnection(new NatsOpts { Url = nats });
        await connection.ConnectAsync();
        var js = connection.CreateJetStreamContext();
        if (jetStream) await js.CreateOrUpdateStreamAsync(new NATS.Client.JetStream.Models.StreamConfig(stream, [subject]));
        long total = (long)payloads * points;
        var natsRates = new List<double>();
        var httpRates = new List<double>();
        long t0 = 1_800_000_000_000_000_000;
        for (var round = 0; round < rounds; round++)
        {
            var bodies = Bodies(payloads, points, t0 + round * total * 2);
            var httpBodies = Bodies(payloads, points, t0 + round * total * 2 + total);
            async Task RunNats() => natsRates.Add(await NatsRoundAsync(http, connection, js, jetStream, subject, source, bodies, total));
            async Task RunHttp() => httpRates.Add(await HttpRoundAsync(http, db, httpBodies, total));
            if (round % 2 == 0) { await RunNats(); await DrainAsync(http); await RunHttp(); }
            else { await RunHttp(); await DrainAsync(http); await RunNats(); }
            await DrainAsync(http);
            Console.WriteLine($"round {round + 1}: {(jetStream ? "jetstream" : "nats core")} {natsRates[^1]:N0} points/s, http {httpRates[^1]:N0} points/s, ratio {natsRates[^1] / httpRates[^1]:0.00}");
        }
        var ratios = natsRates.Zip(httpRates, (n, h) => n / h).Order().ToList();
        Console.WriteLine($"median: {(jetStream ? "jetstream" : "nats core")} {Median(natsRates):N0} points/s, http {Median(httpRates):N0} points/s, median ratio {Median(ratios):0.00} ({payloads} payloads of {points} points a round)");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static List<byte[]> Bodies(int payloads, int points, long firstTime)
    {
        var bodies = new List<byte[]>(payloads);
        var text = new StringBuilder(points * 90);
        long t = firstTime;
        for (var p = 0; p < payloads; p++)
        {
            text.Clear();
            for (var i = 0; i < points; i++, t++)
                text.Append("lg,host=h").Append(i % 100).Append(",region=r").Append(i % 7)
                    .Append(" usage_idle=").Append(i % 97).Append(".5,usage_user=").Append(i % 13).Append(".25,load=").Append(i).Append("i ").Append(t).Append('\n');
            bodies.Add(Encoding.UTF8.GetBytes(text.ToString()));
        }
        return bodies;
    }

    private static async Task<double> NatsRoundAsync(HttpClient http, NatsConnection connection, INatsJSContext js, bool jetStream,
        string subject, string source, List<byte[]> bodies, long total)
    {
        var before = await MetricAsync(http, $"ingest_stage_sent_total{{stage=\"{source}\"}}");
        var clock = Stopwatch.StartNew();
        if (jetStream)
        {
            // Acked by the server in groups, so that the publisher is not the bottleneck.
            var pending = new List<Task>();
            foreach (var body in bodies)
            {
                pending.Add(js.PublishAsync(subject, body).AsTask());
                if (pending.Count >= 64) { await Task.WhenAll(pending); pending.Clear(); }
            }
            await Task.WhenAll(pending);
        }
        else
        {
            foreach (var body in bodies) await connection.PublishAsync(subject, body);
        }
        while (await MetricAsync(http, $"ingest_stage_sent_total{{stage=\"{source}\"}}") - before < total)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException("the source did not admit every point in 2 minutes");
            await Task.Delay(5);
        }
        return total / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> HttpRoundAsync(HttpClient http, string db, List<byte[]> bodies, long total)
    {
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < bodies.Count)
            {
                using var answer = await http.PostAsync($"write?db={db}", new ByteArrayContent(bodies[i]));
                if ((int)answer.StatusCode != 204) throw new InvalidOperationException($"/write answered {(int)answer.StatusCode}");
            }
        }));
        return total / clock.Elapsed.TotalSeconds;
    }

    private static async Task DrainAsync(HttpClient http)
    {
        while (await MetricAsync(http, "ingest_buffer_points") > 0) await Task.Delay(50);
    }

    private static async Task<double> MetricAsync(HttpClient http, string sample)
    {
        var text = await http.GetStringAsync("metrics");
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(sample + " ", StringComparison.Ordinal))
                return double.Parse(line[(sample.Length + 1)..], CultureInfo.InvariantCulture);
        return 0;
    }
}
