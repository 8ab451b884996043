using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sinks.Redis;
using Ingest.Telemetry;
using Ingest.Transforms.Live;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Benchmarks;

/// <summary>
/// Bytes allocated per series write of the live state (<c>-- live-redis --redis HOST:PORT [--series N]
/// [--flushes N]</c>), against a real redis-server: every flush writes all N series once, with new values, as at
/// 100 000 points/s over 100 000 series. Reported per series: the whole flush (take, publish and Redis write,
/// every thread of the process counted, so the client's reader and writer too) and the take alone.
/// <c>--types</c> adds the runtime's allocation samples (one per ~100 KB) of the flushes by type.
/// </summary>
public static class LiveRedisMeasure
{
    private sealed class Meters : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);
        public void Dispose() { }
    }

    /// <summary>The runtime's allocation ticks (about one per 100 KB allocated), counted by type while <see cref="On"/>.</summary>
    private sealed class AllocationSampler : EventListener
    {
        public readonly Dictionary<string, long> Bytes = new();
        public volatile bool On;

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (!On || e.EventName != "GCAllocationTick_V4" || e.Payload is null) return;
            var type = e.Payload[e.PayloadNames!.IndexOf("TypeName")] as string ?? "?";
            var amount = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")], CultureInfo.InvariantCulture);
            lock (Bytes) Bytes[type] = Bytes.GetValueOrDefault(type) + amount;
        }
    }

    public static async Task RunAsync(string[] args)
    {
        string? redis = null;
        var types = false;
        int series = 100_000, flushes = 10;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--redis": redis = args[++i]; break;
                case "--series": series = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--flushes": flushes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--types": types = true; break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (redis is null) throw new ArgumentException("--redis HOST:PORT is required");

        var options = new IngestOptions { Redis = new RedisOptions { Configuration = redis } };
        var live = new LiveStateTransform(new LiveOptions(), "metrics");
        using var connection = new RedisConnection(options);
        using var meter = new IngestMeter(new Meters());
        var writer = new LiveStateWriter(live, connection, meter, NullLogger<LiveStateWriter>.Instance);
        var db = (await connection.GetAsync()).GetDatabase();

        // Bodies are parsed before the clock: only the flush is measured.
        var rounds = 3 + 2 * flushes;
        var batches = new PointBatch[rounds];
        var parser = new LineProtocolParser();
        for (var r = 0; r < rounds; r++)
        {
            batches[r] = new PointBatch();
            parser.Parse(Body(series, r), Precision.Nanoseconds, 0, batches[r]);
        }

        var round = 0;
        for (; round < 3; round++)
        {
            live.Process(batches[round], null!);
            await writer.FlushAsync();
        }

        using var sampler = types ? new AllocationSampler() : null;
        var taken = new List<LiveWrite>(series);
        long takeBytes = 0, flushBytes = 0;
        var flushTime = TimeSpan.Zero;
        var gen0 = GC.CollectionCount(0);
        var gen1 = GC.CollectionCount(1);
        var gen2 = GC.CollectionCount(2);
        for (var f = 0; f < flushes; f++)
        {
            live.Process(batches[round++], null!);
            taken.Clear();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            live.TakeDirty(taken);
            takeBytes += GC.GetTotalAllocatedBytes(precise: true) - before;
            taken.Clear();

            live.Process(batches[round++], null!);
            var clock = Stopwatch.StartNew();
            before = GC.GetTotalAllocatedBytes(precise: true);
            if (sampler is not null) sampler.On = true;
            await writer.FlushAsync();
            if (sampler is not null) sampler.On = false;
            flushBytes += GC.GetTotalAllocatedBytes(precise: true) - before;
            flushTime += clock.Elapsed;
        }
        var written = (long)(await db.ExecuteAsync("DBSIZE"));
        double writes = (double)series * flushes;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"live-redis: {series} series x {flushes} flushes: {flushBytes / writes:F0} B per series write " +
            $"({takeBytes / writes:F0} B of it taking and publishing, {(flushBytes - takeBytes) / writes:F0} B the Redis write), " +
            $"{flushTime.TotalMilliseconds / flushes:F0} ms per flush, collections gen0/1/2 {GC.CollectionCount(0) - gen0}/" +
            $"{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}; keys in Redis {written}"));
        if (sampler is null) return;
        lock (sampler.Bytes)
        {
            var sampled = Math.Max(1, sampler.Bytes.Values.Sum());
            foreach (var (type, bytes) in sampler.Bytes.OrderByDescending(x => x.Value).Take(15))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {100.0 * bytes / sampled,5:F1} %  {type}"));
        }
    }

    /// <summary>
    /// One point for each of <paramref name="series"/> series of the load tool's mix (cpu 4 fields, mem 3, disk 5,
    /// net 6), values depending on the round so that every flush writes new text.
    /// </summary>
    private static byte[] Body(int series, int round)
    {
        var text = new StringBuilder(series * 120);
        var random = new Random(round);
        long ts = 1_767_225_600_000_000_000 + round * 1_000_000_000L;
        for (var i = 0; i < series; i++)
        {
            var host = (i / 4).ToString("D6", CultureInfo.InvariantCulture);
            switch (i % 4)
            {
                case 0:
                    text.Append("cpu,cpu=cpu0,host=h").Append(host).Append(",region=eu-west usage_user=").Append(F(random))
                        .Append(",usage_system=").Append(F(random)).Append(",usage_idle=").Append(F(random)).Append(",usage_iowait=").Append(F(random));
                    break;
                case 1:
                    text.Append("mem,host=h").Append(host).Append(",region=eu-west used=").Append(random.NextInt64(1L << 30, 1L << 36))
                        .Append("i,free=").Append(random.NextInt64(1L << 28, 1L << 34)).Append("i,used_percent=").Append(F(random));
                    break;
                case 2:
                    text.Append("disk,host=h").Append(host).Append(",path=/data0,region=eu-west total=").Append(random.NextInt64(1L << 39, 1L << 42))
                        .Append("i,used=").Append(random.NextInt64(1L << 33, 1L << 38)).Append("i,free=").Append(random.NextInt64(1L << 33, 1L << 41))
                        .Append("i,used_percent=").Append(F(random)).Append(",inodes_used=").Append(random.Next(10_000, 50_000_000)).Append('i');
                    break;
                default:
                    text.Append("net,host=h").Append(host).Append(",interface=eth0,region=eu-west bytes_sent=").Append(random.NextInt64(0, 1L << 40))
                        .Append("i,bytes_recv=").Append(random.NextInt64(0, 1L << 40)).Append("i,packets_sent=").Append(random.NextInt64(0, 1L << 32))
                        .Append("i,packets_recv=").Append(random.NextInt64(0, 1L << 32)).Append("i,err_in=").Append(random.Next(0, 100))
                        .Append("i,drop_in=").Append(random.Next(0, 1000)).Append('i');
                    break;
            }
            text.Append(' ').Append(ts + i).Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string F(Random random) => (random.Next(0, 10_000) / 100.0).ToString("0.00", CultureInfo.InvariantCulture);
}
