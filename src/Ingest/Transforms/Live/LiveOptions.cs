using Ingest.Configuration;
using Microsoft.Extensions.Configuration;

namespace Ingest.Transforms.Live;

/// <summary>
/// The live state of every series in Redis (section <c>Live</c>): only in effect when <c>Redis:Configuration</c>
/// is set.
/// </summary>
public sealed record LiveOptions
{
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// How often changed series are written to Redis; a series changed many times in between is written once. Each
    /// series written costs the daemon and Redis a few microseconds each, so with every series changing, the cost
    /// is series / interval whatever the point rate: at 10 000 series a 250 ms interval took a tenth of the
    /// daemon's CPU and more of Redis's, for values a dashboard reads every few seconds.
    /// </summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A series not written for this long expires (Redis key TTL, index entry, memory). Zero: never.</summary>
    public TimeSpan Expiry { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Most series tracked; points of further new series are counted (<c>ingest.live.series.untracked</c>), not kept.</summary>
    public int MaxSeries { get; init; } = 1_000_000;

    /// <summary>
    /// Reads and validates the <c>Live</c> section. Stands in until the section is part of
    /// <see cref="IngestOptionsLoader"/>; throws <see cref="ConfigurationError"/> like it.
    /// </summary>
    public static LiveOptions Read(IConfiguration configuration)
    {
        var s = new SectionReader(configuration, "Live");
        var d = new LiveOptions();
        // "0" (never) is not a duration to DurationParser.
        var never = s.String("Expiry", "") == "0";
        var o = new LiveOptions
        {
            Enabled = s.Bool("Enabled", d.Enabled),
            FlushInterval = s.Duration("FlushInterval", d.FlushInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)),
            Expiry = never ? TimeSpan.Zero : s.Duration("Expiry", d.Expiry, TimeSpan.Zero, TimeSpan.FromDays(365)),
            MaxSeries = s.Int("MaxSeries", d.MaxSeries, 1, 100_000_000),
        };
        s.RejectUnknownKeys();
        if (o.Expiry > TimeSpan.Zero && o.Expiry < TimeSpan.FromSeconds(1))
            throw new ConfigurationError("Live:Expiry", DurationParser.Format(o.Expiry), "must be 0 (never) or at least 1s");
        return o;
    }
}
