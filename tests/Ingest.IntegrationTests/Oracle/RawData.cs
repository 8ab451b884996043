using System.Globalization;
using System.Text;

namespace Ingest.IntegrationTests.Oracle;

public enum FieldKind { Float, Integer, String, Boolean }

/// <summary>A field of a generated series: its type, how often a point carries it, and how values are drawn.</summary>
public sealed record FieldSpec(string Name, FieldKind Kind, double Presence, Func<Random, object> Next)
{
    public bool IsNumeric => Kind is FieldKind.Float or FieldKind.Integer;
}

/// <summary>A generated series: measurement, tags, fields, how many points and over which event-time ranges (ns offsets from the base).</summary>
public sealed record SeriesSpec(string Measurement, (string Key, string Value)[] Tags, FieldSpec[] Fields, int Points, (long From, long To)[] Ranges)
{
    /// <summary>Escaped, sorted tag set, as <see cref="InfluxRows.CanonicalTags"/> gives it.</summary>
    public string CanonicalTags => InfluxRows.CanonicalTags(Tags.Select(t => KeyValuePair.Create(t.Key, t.Value)));
    /// <summary>The series key as line protocol spells it: <c>cpu,host=a,region=eu</c>.</summary>
    public string Key => LineEscape.Measurement(Measurement) + (Tags.Length == 0 ? "" : "," + CanonicalTags);
}

/// <summary>One raw point. Values are double (Float), long (Integer), string or bool.</summary>
public sealed record RawPoint(SeriesSpec Series, long Timestamp, IReadOnlyList<(FieldSpec Field, object Value)> Fields)
{
    /// <summary>Line protocol; with <paramref name="tagOrder"/> the tags are written in a random order (clients need not sort them).</summary>
    public string ToLine(Random? tagOrder = null)
    {
        var sb = new StringBuilder();
        sb.Append(LineEscape.Measurement(Series.Measurement));
        var tags = Series.Tags.ToArray();
        if (tagOrder is not null) tagOrder.Shuffle(tags);
        foreach (var (k, v) in tags) sb.Append(',').Append(LineEscape.Key(k)).Append('=').Append(LineEscape.Key(v));
        sb.Append(' ');
        for (int i = 0; i < Fields.Count; i++)
        {
            if (i > 0) sb.Append(',');
            var (f, value) = Fields[i];
            sb.Append(LineEscape.Key(f.Name)).Append('=');
            switch (f.Kind)
            {
                case FieldKind.Float: sb.Append(((double)value).ToString("R", CultureInfo.InvariantCulture)); break;
                case FieldKind.Integer: sb.Append(((long)value).ToString(CultureInfo.InvariantCulture)).Append('i'); break;
                case FieldKind.Boolean: sb.Append((bool)value ? "true" : "false"); break;
                default: sb.Append('"').Append(((string)value).Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"'); break;
            }
        }
        sb.Append(' ').Append(Timestamp.ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    public double? Numeric(string field)
    {
        foreach (var (f, v) in Fields)
        {
            if (f.Name != field) continue;
            return f.Kind switch { FieldKind.Float => (double)v, FieldKind.Integer => (long)v, _ => null };
        }
        return null;
    }
}

public static class LineEscape
{
    public static string Measurement(string s) => s.Replace("\\", "\\\\").Replace(",", "\\,").Replace(" ", "\\ ");
    public static string Key(string s) => s.Replace("\\", "\\\\").Replace(",", "\\,").Replace("=", "\\=").Replace(" ", "\\ ");
}

/// <summary>
/// Deterministic raw data over about eleven minutes of event time from <see cref="Base"/> (aligned to 5 minutes):
/// several measurements (one with a space in its name), series with differing tag-key sets, a tag value with a
/// space and a comma, float and integer fields (one with a space in its key), sparse fields, strings and
/// booleans (which downsampling skips), negative values and zeros, log-spread values for the percentile sketch,
/// a series with gaps, single-point windows and points exactly on window boundaries. Timestamps are unique per
/// series, so InfluxDB never merges two points (which would make its count differ from the daemon's).
/// </summary>
public sealed class RawDataSet
{
    public const long Second = 1_000_000_000L;
    public const long Minute = 60 * Second;
    /// <summary>2026-01-01T00:00:00Z.</summary>
    public const long Base = 1_767_225_600L * Second;

    public RawDataSet(int seed, int pointsPerSeries = 200)
    {
        Seed = seed;
        var rng = new Random(seed);
        Series = Specs(pointsPerSeries);
        var points = new List<RawPoint>();
        foreach (var s in Series) points.AddRange(Generate(s, rng));
        Points = points;
    }

    public int Seed { get; }
    public IReadOnlyList<SeriesSpec> Series { get; }
    public IReadOnlyList<RawPoint> Points { get; }
    public IEnumerable<string> Measurements => Series.Select(s => s.Measurement).Distinct();

    /// <summary>First and last event time (exclusive) of every generated point, widened to 5-minute windows.</summary>
    public long From => Base;
    public long To => Base + 15 * Minute;

    public IReadOnlyList<string> NumericFields(string measurement) =>
        Series.Where(s => s.Measurement == measurement).SelectMany(s => s.Fields).Where(f => f.IsNumeric)
            .Select(f => f.Name).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToList();

    private static SeriesSpec[] Specs(int n)
    {
        const long all = 11 * Minute;
        (long, long)[] whole = [(0, all)];
        static object Uniform(Random r, double lo, double hi) => lo + r.NextDouble() * (hi - lo);

        FieldSpec usage = new("usage", FieldKind.Float, 0.95, r => Uniform(r, 0, 100));
        FieldSpec procs = new("procs", FieldKind.Integer, 0.7, r => r.NextInt64(50, 500));
        FieldSpec status = new("status", FieldKind.String, 0.2, r => r.Next(2) == 0 ? "ok" : "busy \"x\"");
        FieldSpec up = new("up", FieldKind.Boolean, 0.2, r => r.Next(2) == 0);
        FieldSpec readBytes = new("read bytes", FieldKind.Integer, 0.9, r => r.NextInt64(0, 2_000_000_000));
        FieldSpec latency = new("latency", FieldKind.Float, 0.8, r => Math.Exp(Math.Log(1e-3) + r.NextDouble() * Math.Log(1e6)));
        FieldSpec celsius = new("celsius", FieldKind.Float, 1.0, r => r.Next(20) switch
        {
            0 => 0.0,
            1 => (double)r.Next(-20, 40),
            _ => Uniform(r, -20, 40),
        });
        FieldSpec rare = new("v", FieldKind.Float, 1.0, r => Uniform(r, -1, 1));

        FieldSpec[] cpuFields = [usage, procs, status, up];
        return
        [
            new("cpu", [("host", "a"), ("region", "eu")], cpuFields, n, whole),
            new("cpu", [("host", "b"), ("region", "eu")], cpuFields, n, whole),
            // Gaps: minutes 3-5 and 8-9 only.
            new("cpu", [("host", "c"), ("region", "us")], cpuFields, n / 10, [(3 * Minute, 6 * Minute), (8 * Minute, 10 * Minute)]),
            new("disk io", [("host", "a"), ("dev", "sd a,1")], [readBytes, latency], n, whole),
            new("disk io", [("host", "a"), ("dev", "sdb")], [readBytes, latency], n / 2, whole),
            new("temp", [("sensor", "s1")], [celsius], n, whole),
            new("temp", [("sensor", "s2"), ("loc", "roof")], [celsius], n, whole),
            // Single-point windows: one point in minute 7, one in minute 9.
            new("rare", [("id", "z")], [rare], 2, [(7 * Minute, 8 * Minute), (9 * Minute, 10 * Minute)]),
        ];
    }

    private static IEnumerable<RawPoint> Generate(SeriesSpec s, Random rng)
    {
        var times = new SortedSet<long>();
        // Window boundaries are where off-by-one errors live: a point exactly on a start and one just before it.
        foreach (var (from, to) in s.Ranges)
        {
            if (s.Points < 10) break;
            for (long m = from; m < to; m += Minute)
            {
                if (rng.Next(2) == 0) times.Add(Base + m);
                if (rng.Next(2) == 0 && m + Minute - 1 < to) times.Add(Base + m + Minute - 1);
            }
        }
        if (s.Points == s.Ranges.Length)
        {
            // One point per range (the single-point windows).
            foreach (var (from, to) in s.Ranges) times.Add(Base + from + rng.NextInt64(to - from));
        }
        long span = s.Ranges.Sum(r => r.To - r.From);
        int guard = 0;
        while (times.Count < s.Points && guard++ < s.Points * 100)
        {
            long offset = rng.NextInt64(span);
            foreach (var (from, to) in s.Ranges)
            {
                if (offset < to - from) { times.Add(Base + from + offset); break; }
                offset -= to - from;
            }
        }
        foreach (var t in times)
        {
            var fields = new List<(FieldSpec, object)>();
            foreach (var f in s.Fields)
                if (rng.NextDouble() < f.Presence) fields.Add((f, f.Next(rng)));
            if (fields.Count == 0) fields.Add((s.Fields[0], s.Fields[0].Next(rng)));
            yield return new RawPoint(s, t, fields);
        }
    }
}
