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
}
