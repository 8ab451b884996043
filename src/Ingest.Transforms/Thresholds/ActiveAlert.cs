using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>A rule and series not at OK, as listed by <c>GET /api/alerts</c> and the live feed's alerts snapshot.</summary>
/// <param name="Field">The rule's field, as alert events name it.</param>
/// <param name="Since">Event time (ns) of the transition into <paramref name="Level"/>.</param>
/// <param name="Value">The last value evaluated.</param>
public sealed record ActiveAlert(
    string Id,
    string Rule,
    string Database,
    string SeriesKey,
    string Measurement,
    IReadOnlyList<DecodedTag> Tags,
    string Field,
    AlertLevel Level,
    long Since,
    double Value,
    string? AcknowledgedBy,
    DateTimeOffset? AcknowledgedAt);
