namespace Ingest.Sinks.Feed;

/// <summary>Settings of the live feed (section <c>Feed</c>).</summary>
public sealed record FeedOptions
{
    /// <summary>Clients connected at once; one more is answered 503.</summary>
    public int MaxClients { get; init; } = 10_000;

    /// <summary>Subscriptions one connection may hold; one more is answered with an error message.</summary>
    public int MaxSubscriptions { get; init; } = 64;

    /// <summary>Messages queued per client before its updates are conflated (latest value per series).</summary>
    public int ClientQueue { get; init; } = 256;

    /// <summary>
    /// Bytes of JSON queued per client (answers, snapshot parts, updates) before its updates are conflated and its
    /// requests wait; conflated updates may take as much again, beyond which the client is disconnected.
    /// </summary>
    public long ClientQueueBytes { get; init; } = 4_000_000;

    /// <summary>
    /// Points (and alert events) handed to the feed and not yet matched against the subscriptions; when more
    /// come, the oldest are dropped for the feed (counted), so that matching never holds up the pipeline.
    /// </summary>
    public int PublishQueue { get; init; } = 100_000;

    /// <summary>How long a client may stay behind (conflating, or not reading its answers) before it is disconnected.</summary>
    public TimeSpan SlowClientTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Pings that keep idle connections alive through proxies.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Origins a browser may open the feed from (<c>*</c>: any); requests without an Origin header are always allowed.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];
}
