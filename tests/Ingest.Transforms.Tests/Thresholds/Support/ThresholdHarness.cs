using System.Globalization;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds.Support;

/// <summary>An engine fed with line protocol whose timestamps are in seconds, recording every event.</summary>
internal sealed class ThresholdHarness
{
    public const string DefaultSeries = "cpu,host=a";

    public ThresholdHarness(params ThresholdRule[] rules) : this(new ThresholdCheck(rules)) { }

    public ThresholdHarness(ThresholdCheck engine) => Engine = engine;

    public ThresholdCheck Engine { get; }

    public List<AlertEvent> Events { get; } = new();

    /// <summary>Feeds <c>usage=value</c> for <paramref name="series"/> at <paramref name="seconds"/>; returns the new events.</summary>
    public List<AlertEvent> At(double seconds, double value, string series = DefaultSeries, string field = "usage") =>
        Feed($"{series} {field}={value.ToString(CultureInfo.InvariantCulture)} {Ns(seconds)}");

    /// <summary>Feeds lines (nanosecond timestamps) as one batch; returns the new events.</summary>
    public List<AlertEvent> Feed(params string[] lines) => FeedTo("", "", lines);

    /// <summary>Feeds lines as one batch written to <paramref name="database"/> and <paramref name="retentionPolicy"/>.</summary>
    public List<AlertEvent> FeedTo(string database, string retentionPolicy, params string[] lines)
    {
        var batch = Batch(lines);
        batch.Database = database;
        batch.RetentionPolicy = retentionPolicy;
        var fresh = new List<AlertEvent>();
        Engine.Process(batch, fresh);
        PointBatch.Return(batch);
        Events.AddRange(fresh);
        return fresh;
    }

    public List<AlertEvent> Advance(double seconds)
    {
        var fresh = new List<AlertEvent>();
        Engine.AdvanceWatermark(Ns(seconds), fresh);
        Events.AddRange(fresh);
        return fresh;
    }

    public static PointBatch Batch(IEnumerable<string> lines)
    {
        var batch = PointBatch.Rent();
        var body = Encoding.UTF8.GetBytes(string.Join('\n', lines));
        var summary = new LineProtocolParser().Parse(body, Precision.Nanoseconds, 0, batch);
        if (summary.BadLines > 0) throw new InvalidOperationException(summary.FirstError!.ToString());
        return batch;
    }

    public static long Ns(double seconds) => (long)Math.Round(seconds * 1e9);

    /// <summary>Levels of the events, as "OK>CRIT" strings: short to assert, readable when an assertion fails.</summary>
    public static string[] Transitions(IEnumerable<AlertEvent> events) =>
        events.Select(e => $"{AlertLevelNames.Upper(e.Previous)}>{AlertLevelNames.Upper(e.Level)}").ToArray();
}

internal static class Rules
{
    public static ThresholdRule Above(double? warn = null, double? crit = null) => new()
    {
        Name = "cpu_high",
        Measurement = "cpu",
        Field = "usage",
        Direction = ThresholdDirection.Above,
        Warn = warn,
        Crit = crit,
    };

    public static ThresholdRule Below(double? warn = null, double? crit = null) => Above(warn, crit) with
    {
        Name = "cpu_low",
        Direction = ThresholdDirection.Below,
    };
}
