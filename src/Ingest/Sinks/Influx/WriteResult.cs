namespace Ingest.Sinks.Influx;

/// <summary>How InfluxDB answered one write attempt, sorted by what the sink must do next.</summary>
public enum WriteStatus
{
    /// <summary>2xx: every point stored.</summary>
    Delivered,
    /// <summary>400/422 naming some points dropped: the rest are stored; not retried.</summary>
    PartiallyRejected,
    /// <summary>A permanent refusal of the whole write (bad request, unknown retention policy or bucket): not retried.</summary>
    Rejected,
    /// <summary>413: split the write and send the halves.</summary>
    TooLarge,
    /// <summary>404 database not found (1.x): create it when configured, then send again.</summary>
    DatabaseNotFound,
    /// <summary>Network error, timeout, 429, 5xx, 401/403: nothing was stored; try again later.</summary>
    Retryable,
}

/// <param name="Status">What to do next.</param>
/// <param name="StatusCode">HTTP status, or 0 when no response came.</param>
/// <param name="Error">InfluxDB's error text or the exception message.</param>
/// <param name="Dropped">Points InfluxDB says it dropped (partial write), when it says so.</param>
/// <param name="RetryAfter">The server's <c>Retry-After</c>, when it sent one.</param>
/// <param name="ErrorType">A short stable label for metrics: <c>network</c>, <c>timeout</c>, <c>status_503</c>…</param>
public readonly record struct WriteResult(
    WriteStatus Status, int StatusCode, string? Error, int? Dropped, TimeSpan? RetryAfter, string ErrorType)
{
    public static readonly WriteResult Ok = new(WriteStatus.Delivered, 204, null, null, null, "");

    /// <summary>
    /// A retryable failure that says InfluxDB (or the way to it) is unavailable or overloaded as a whole, not that
    /// these points cannot be stored: no answer, a timeout, 429, 502/503/504, InfluxDB's own write timeout or full
    /// cache (500 "timeout", "cache-max-memory-size exceeded"), or credentials refused (401/403, which a fix on the
    /// server ends). Such writes are retried for as long as it lasts and never set aside; every other retryable
    /// failure counts towards <c>DeadLetter:AfterAttempts</c>.
    /// </summary>
    public bool IsOutage => Status == WriteStatus.Retryable && StatusCode switch
    {
        0 or 401 or 403 or 429 or 502 or 503 or 504 => true,
        500 => Error is { } e && (e.Contains("timeout", StringComparison.OrdinalIgnoreCase)
            || e.Contains("cache-max-memory-size", StringComparison.OrdinalIgnoreCase)
            || e.Contains("cache full", StringComparison.OrdinalIgnoreCase)),
        _ => false,
    };

    /// <summary>
    /// The label a point set aside for this answer is counted under (<c>ingest_sink_points_dead_lettered_total{reason}</c>):
    /// <c>rejected</c>, <c>partial</c>, <c>too_large</c>, <c>database_not_found</c>,
    /// <c>retention_policy_not_found</c>, or <c>failing</c> for a write that kept failing the same way.
    /// </summary>
    public string SetAsideReason => Status switch
    {
        WriteStatus.PartiallyRejected => "partial",
        WriteStatus.TooLarge => "too_large",
        WriteStatus.DatabaseNotFound => "database_not_found",
        WriteStatus.Rejected when Error?.Contains("retention policy not found", StringComparison.OrdinalIgnoreCase) == true => "retention_policy_not_found",
        WriteStatus.Rejected => "rejected",
        _ => "failing",
    };
}
