using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Ingest.LoadGen;

public sealed record Batch(byte[] Body, int Points, int RawBytes);

/// <summary>Everything that is sent, built before any timing starts.</summary>
public sealed class Workload
{
    public required Batch[] Batches { get; init; }
    /// <summary>(measurement, a field every point of it carries) pairs present in the data.</summary>
    public required (string Measurement, string Field)[] CountTargets { get; init; }
    public long Points { get; init; }
    public int Series { get; init; }
    public int BatchSize { get; init; }
    public long Ticks { get; init; }
    public long IntervalNs { get; init; }
    public long RawBytes { get; init; }
    public long WireBytes { get; init; }
    public long FirstNs { get; init; }
    public long LastNs { get; init; }
    public TimeSpan BuildTime { get; init; }
}

/// <summary>
/// Telegraf-shaped line protocol. Point k of the run belongs to tick k / series and to a series picked by
/// a per-tick permutation, so every series gets exactly one point per tick: series+timestamp never repeat
/// and InfluxDB never collapses two points into one (which would break the landed-count check).
/// Values are a pure function of (seed, series, tick, field) so batches can be built in parallel. With
/// --distinct-times the point in position p of its tick is p slots after the tick's start, so no two points
/// of the run share a timestamp.
/// </summary>
public static class Generator
{
    private sealed record Field(string Name, bool IsInt, long Min, long Max);
    private sealed record Measurement(string Name, string? InstanceTag, string InstancePrefix, int PerHost, Field[] Fields);

    // Floats are generated as hundredths (Min/Max are in hundredths) to keep bodies compact like real agents.
    private static readonly Measurement[] Schema =
    [
        new("cpu", "cpu", "cpu", 8,
        [
            new("usage_user", false, 0, 9000), new("usage_system", false, 0, 3000),
            new("usage_idle", false, 1000, 10000), new("usage_iowait", false, 0, 1500),
        ]),
        new("mem", null, "", 1,
        [
            new("used", true, 1L << 30, 60L << 30), new("free", true, 1L << 28, 30L << 30),
            new("used_percent", false, 500, 9900),
        ]),
        new("disk", "path", "/data", 4,
        [
            new("total", true, 500L << 30, 4000L << 30), new("used", true, 10L << 30, 400L << 30),
            new("free", true, 10L << 30, 3000L << 30), new("used_percent", false, 100, 9900),
            new("inodes_used", true, 10_000, 50_000_000),
        ]),
        new("net", "interface", "eth", 2,
        [
            new("bytes_sent", true, 0, 1L << 40), new("bytes_recv", true, 0, 1L << 40),
            new("packets_sent", true, 0, 1L << 32), new("packets_recv", true, 0, 1L << 32),
            new("err_in", true, 0, 100), new("drop_in", true, 0, 1000),
        ]),
    ];

    // The field test's load: one measurement, two tags, two floats and an integer.
    private static readonly Measurement[] LgSchema =
    [
        new("lg", null, "", 1,
        [
            new("usage_idle", false, 0, 10000), new("usage_user", false, 0, 10000), new("load", true, 0, 64),
        ]),
    ];

    private static Measurement[] SchemaOf(Shape shape) => shape == Shape.Lg ? LgSchema : Schema;

    private static readonly string[] Regions = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast"];

    private sealed record SeriesDef(int Measurement, byte[] Key);

    public static Workload Build(Options o)
    {
        var sw = Stopwatch.StartNew();
        int s = o.Series;
        long n = o.Points;
        long unitNs = Options.UnitNs(o.Precision);
        long intervalUnits = o.IntervalNs / unitNs;
        long ticks = (n + s - 1) / s;

        long startNs = o.StartNs ?? DefaultStartNs(ticks, o.IntervalNs);
        long startUnits = Math.DivRem(startNs, unitNs, out long rem) - (rem < 0 ? 1 : 0);

        var schema = SchemaOf(o.Shape);
        var series = BuildSeries(s, o.Shape);
        // With --distinct-times the points of a tick are spread over it, one slot per series, so no two share a time.
        long slotUnits = o.DistinctTimes ? intervalUnits / s : 0;
        var fieldPrefixes = schema.Select(m => m.Fields.Select((f, i) => Encoding.UTF8.GetBytes((i == 0 ? "" : ",") + f.Name + "=")).ToArray()).ToArray();
        int[] rank = Enumerable.Range(0, s).OrderBy(i => series[i].Key, ByteOrder.Instance).ToArray();
        int[] rankOf = new int[s];
        for (int r = 0; r < s; r++) rankOf[rank[r]] = r;
        long stride = CoprimeStride(s, o.Seed);

        int batchCount = checked((int)((n + o.BatchSize - 1) / o.BatchSize));
        var batches = new Batch[batchCount];
        Parallel.For(0, batchCount, b =>
        {
            long first = (long)b * o.BatchSize;
            int count = (int)Math.Min(o.BatchSize, n - first);
            var pts = new (int Series, long Tick, long Slot)[count];
            for (int i = 0; i < count; i++)
            {
                long k = first + i;
                long tick = k / s;
                long p = k % s;
                long offset = (long)(Mix(o.Seed ^ (ulong)tick * 0x9E3779B97F4A7C15UL) % (ulong)s);
                pts[i] = ((int)((stride * p + offset) % s), tick, p);
            }
            if (o.Sorted)
                Array.Sort(pts, (x, y) => x.Series == y.Series ? x.Tick.CompareTo(y.Tick) : rankOf[x.Series].CompareTo(rankOf[y.Series]));

            var buf = new ByteBuf(count * 160);
            foreach (var (si, tick, slot) in pts)
                WritePoint(buf, o.Seed, schema, series[si], si, tick, fieldPrefixes, startUnits + tick * intervalUnits + slot * slotUnits);

            byte[] raw = buf.ToArray();
            batches[b] = new Batch(o.Gzip ? Gzip(raw) : raw, count, raw.Length);
        });

        var present = series.Select(x => x.Measurement).Distinct().Order()
            .Select(m => (schema[m].Name, schema[m].Fields[0].Name)).ToArray();
        return new Workload
        {
            Batches = batches,
            CountTargets = present,
            Points = n,
            Series = s,
            BatchSize = o.BatchSize,
            Ticks = ticks,
            IntervalNs = o.IntervalNs,
            RawBytes = batches.Sum(x => (long)x.RawBytes),
            WireBytes = batches.Sum(x => (long)x.Body.Length),
            FirstNs = startUnits * unitNs,
            LastNs = (startUnits + (ticks - 1) * intervalUnits + (s - 1) * slotUnits) * unitNs,
            BuildTime = sw.Elapsed,
        };
    }

    private static long DefaultStartNs(long ticks, long intervalNs)
    {
        long nowNs = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        long start = nowNs - ticks * intervalNs;
        return start - ((start % intervalNs) + intervalNs) % intervalNs;
    }

    private static SeriesDef[] BuildSeries(int count, Shape shape)
    {
        var result = new SeriesDef[count];
        for (int i = 0; i < count; i++)
        {
            if (shape == Shape.Lg)
            {
                result[i] = new SeriesDef(0, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"lg,host=h{i},region=r{i % 10} ")));
                continue;
            }
            int m = i % Schema.Length;
            int j = i / Schema.Length;
            var def = Schema[m];
            int host = j / def.PerHost;
            // Tags in key order, as Telegraf emits them, so the series key is already canonical.
            var sb = new StringBuilder(def.Name);
            if (def.InstanceTag is "cpu") sb.Append(",cpu=cpu").Append(j % def.PerHost);
            sb.Append(",host=host-").Append(host.ToString("D4"));
            if (def.InstanceTag is "interface") sb.Append(",interface=eth").Append(j % def.PerHost);
            if (def.InstanceTag is "path") sb.Append(",path=/data").Append(j % def.PerHost);
            sb.Append(",region=").Append(Regions[(int)(Mix((ulong)host) % (ulong)Regions.Length)]);
            sb.Append(' ');
            result[i] = new SeriesDef(m, Encoding.UTF8.GetBytes(sb.ToString()));
        }
        return result;
    }

    private static void WritePoint(ByteBuf buf, ulong seed, Measurement[] schema, SeriesDef sd, int seriesIndex, long tick, byte[][][] prefixes, long ts)
    {
        buf.Write(sd.Key);
        var fields = schema[sd.Measurement].Fields;
        ulong h = Mix(seed ^ ((ulong)seriesIndex << 32) ^ (ulong)tick * 0xD1B54A32D192ED03UL);
        for (int f = 0; f < fields.Length; f++)
        {
            var fd = fields[f];
            h = Mix(h + (ulong)f);
            long v = fd.Min + (long)(h % (ulong)(fd.Max - fd.Min + 1));
            buf.Write(prefixes[sd.Measurement][f]);
            if (fd.IsInt)
            {
                buf.WriteLong(v);
                buf.WriteByte((byte)'i');
            }
            else
            {
                buf.WriteLong(v / 100);
                buf.WriteByte((byte)'.');
                buf.WriteByte((byte)('0' + v % 100 / 10));
                buf.WriteByte((byte)('0' + v % 10));
            }
        }
        buf.WriteByte((byte)' ');
        buf.WriteLong(ts);
        buf.WriteByte((byte)'\n');
    }

    private static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream(raw.Length / 4);
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    private static long CoprimeStride(int s, ulong seed)
    {
        if (s == 1) return 1;
        long a = (long)(Mix(seed + 1) % (ulong)s);
        while (a == 0 || Gcd(a, s) != 1) a = (a + 1) % s;
        return a;
    }

    private static long Gcd(long a, long b) { while (b != 0) (a, b) = (b, a % b); return a; }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    private sealed class ByteBuf(int capacity)
    {
        private byte[] _a = new byte[Math.Max(capacity, 256)];
        private int _n;

        public void Write(ReadOnlySpan<byte> src)
        {
            Ensure(src.Length);
            src.CopyTo(_a.AsSpan(_n));
            _n += src.Length;
        }

        public void WriteByte(byte b)
        {
            Ensure(1);
            _a[_n++] = b;
        }

        public void WriteLong(long v)
        {
            Ensure(20);
            Utf8Formatter.TryFormat(v, _a.AsSpan(_n), out int w);
            _n += w;
        }

        public byte[] ToArray() => _a.AsSpan(0, _n).ToArray();

        private void Ensure(int more)
        {
            if (_n + more > _a.Length) Array.Resize(ref _a, Math.Max(_a.Length * 2, _n + more));
        }
    }
}
