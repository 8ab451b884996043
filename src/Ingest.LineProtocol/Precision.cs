namespace Ingest.LineProtocol;

/// <summary>Timestamp unit of an incoming write (the <c>precision</c> query parameter).</summary>
public enum Precision : byte
{
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

public static class PrecisionExtensions
{
    /// <summary>Nanoseconds in one unit of <paramref name="precision"/>.</summary>
    public static long NanosecondsPerUnit(this Precision precision) => precision switch
    {
        Precision.Nanoseconds => 1L,
        Precision.Microseconds => 1_000L,
        Precision.Milliseconds => 1_000_000L,
        Precision.Seconds => 1_000_000_000L,
        Precision.Minutes => 60_000_000_000L,
        Precision.Hours => 3_600_000_000_000L,
        _ => throw new ArgumentOutOfRangeException(nameof(precision)),
    };

    /// <summary>1.x <c>/write</c> names: n, ns, u, ms, s, m, h (absent or empty means ns).</summary>
    public static bool TryParseV1(string? value, out Precision precision)
    {
        precision = Precision.Nanoseconds;
        switch (value)
        {
            case null or "" or "n" or "ns": return true;
            case "u": precision = Precision.Microseconds; return true;
            case "ms": precision = Precision.Milliseconds; return true;
            case "s": precision = Precision.Seconds; return true;
            case "m": precision = Precision.Minutes; return true;
            case "h": precision = Precision.Hours; return true;
            default: return false;
        }
    }

    /// <summary>2.x <c>/api/v2/write</c> names: ns, us, ms, s (absent or empty means ns).</summary>
    public static bool TryParseV2(string? value, out Precision precision)
    {
        precision = Precision.Nanoseconds;
        switch (value)
        {
            case null or "" or "ns": return true;
            case "us": precision = Precision.Microseconds; return true;
            case "ms": precision = Precision.Milliseconds; return true;
            case "s": precision = Precision.Seconds; return true;
            default: return false;
        }
    }
}
