using Ingest.Transforms;
using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>A rule reduced to what the per-point path compares: unescaped UTF-8 names, nanoseconds, a sign.</summary>
internal sealed class CompiledRule
{
    public CompiledRule(int index, ThresholdRule rule)
    {
        Index = index;
        Rule = rule;
        MeasurementBytes = Encoding.UTF8.GetBytes(rule.Measurement);
        FieldBytes = Encoding.UTF8.GetBytes(rule.Field);
        Above = rule.Direction == ThresholdDirection.Above;
        HasWarn = rule.Warn.HasValue;
        Warn = rule.Warn ?? 0;
        WarnReset = rule.WarnReset ?? Warn;
        HasCrit = rule.Crit.HasValue;
        Crit = rule.Crit ?? 0;
        CritReset = rule.CritReset ?? Crit;
        ForNs = ToNanoseconds(rule.For);
        KeepFiringNs = ToNanoseconds(rule.KeepFiringFor);
        NoDataNs = rule.NoDataTimeout is TimeSpan t ? ToNanoseconds(t) : 0;
    }

    public int Index { get; }
    public ThresholdRule Rule { get; }
    public string Name => Rule.Name;
    public byte[] MeasurementBytes { get; }
    public byte[] FieldBytes { get; }
    public bool Above { get; }
    public bool HasWarn { get; }
    public double Warn { get; }
    public double WarnReset { get; }
    public bool HasCrit { get; }
    public double Crit { get; }
    public double CritReset { get; }
    public long ForNs { get; }
    public long KeepFiringNs { get; }

    /// <summary>Zero: no-data detection off.</summary>
    public long NoDataNs { get; }

    /// <summary>The bad side of <paramref name="level"/>, strictly: equal is not a breach.</summary>
    public bool Breaches(double value, double level) => Above ? value > level : value < level;

    /// <summary>Whether a new series' tags satisfy every matcher (called once per series, may allocate).</summary>
    public bool Matches(IReadOnlyList<DecodedTag> tags)
    {
        foreach (var matcher in Rule.Tags)
        {
            bool hit = false;
            for (int i = 0; i < tags.Count; i++)
            {
                if (tags[i].Key == matcher.Key)
                {
                    hit = Glob.IsMatch(matcher.Pattern, tags[i].Value);
                    break;
                }
            }
            if (hit == matcher.Negate) return false;
        }
        return true;
    }

    private static long ToNanoseconds(TimeSpan span) =>
        span.Ticks > long.MaxValue / TimeSpan.NanosecondsPerTick ? long.MaxValue : span.Ticks * TimeSpan.NanosecondsPerTick;
}
