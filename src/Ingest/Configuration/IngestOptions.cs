using Ingest.Graph;
namespace Ingest.Configuration;

/// <summary>Where raw points go and how they are sent there (section <c>Influx</c>).</summary>
public sealed record InfluxOptions
{
    public const int DefaultBatchSize = 5000;
    public static readonly TimeSpan DefaultFlushInterval = TimeSpan.FromSeconds(1);

    public Uri Url { get; init; } = new("http://127.0.0.1:8086");

    /// <summary>1: <c>/write</c> with database and retention policy; 2: <c>/api/v2/write</c> with org, bucket and token.</summary>
    public int ApiVersion { get; init; } = 1;

    public string Database { get; init; } = "metrics";
    public string RetentionPolicy { get; init; } = "";
    public string Org { get; init; } = "";
    public string Bucket { get; init; } = "metrics";
    public string Token { get; init; } = "";
    public string Username { get; init; } = "";
    public string Password { get; init; } = "";

    /// <summary>Points per write request; larger requests are split at this size.</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>Longest a point waits for its batch to fill before the batch is sent anyway.</summary>
    public TimeSpan FlushInterval { get; init; } = DefaultFlushInterval;

    /// <summary>
    /// Write requests in flight at once. InfluxDB takes writes faster with several in flight (measured: 2 gave
    /// about 0.55 of the rate of 4 on a 2-core host); the price is that two writes may land out of order.
    /// </summary>
    public int MaxConcurrentRequests { get; init; } = 4;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Compress write bodies. Off by default: next to InfluxDB, compressing here and decompressing there costs
    /// both more CPU than the bytes saved (measured on loopback: less than half the landed rate with it on).
    /// Turn it on when InfluxDB is across a slow or metered link.
    /// </summary>
    public bool Gzip { get; init; }

    /// <summary>Create a missing 1.x database (CREATE DATABASE) instead of dropping its points.</summary>
    public bool CreateDatabase { get; init; } = true;

    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Target used when a request names no database (v1) or bucket (v2).</summary>
    public string DefaultTarget => ApiVersion == 1 ? Database : Bucket;

    /// <summary>
    /// The database a batch's target names, which is what a token is granted: the target itself with a 1.x sink;
    /// with a 2.x sink a target may be <c>db/rp</c> (InfluxDB 1.8's bucket form), whose database is <c>db</c>.
    /// </summary>
    public string DatabaseOf(string target) =>
        ApiVersion == 2 && target.IndexOf('/') is var slash and > 0 ? target[..slash] : target;

    /// <summary>
    /// The target of points named <paramref name="database"/> and <paramref name="retentionPolicy"/> by a source,
    /// mapped onto the sink's API: a missing database is <see cref="DefaultTarget"/>; a 2.x sink takes
    /// <c>db/rp</c> (or <c>db</c>) as the bucket and no retention policy.
    /// </summary>
    public (string Database, string RetentionPolicy) TargetOf(string database, string retentionPolicy)
    {
        var db = database.Length > 0 ? database : DefaultTarget;
        return ApiVersion == 2 ? (retentionPolicy.Length > 0 ? $"{db}/{retentionPolicy}" : db, "") : (db, retentionPolicy);
    }
}

/// <summary>The bounded buffer between the write endpoints and the sinks (section <c>Buffer</c>).</summary>
public sealed record BufferOptions
{
    /// <summary>Points held between acknowledgement and delivery to InfluxDB.</summary>
    public long Capacity { get; init; } = 1_000_000;

    /// <summary>How long a write waits for room in a full buffer before it is answered 503.</summary>
    public TimeSpan FullWaitTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The <c>Retry-After</c> a refused write is given, in whole seconds.</summary>
    public int RetryAfterSeconds { get; init; } = 1;
}

/// <summary>The HTTP endpoints (section <c>Http</c>).</summary>
public sealed record HttpOptions
{
    /// <summary>Largest request body, after decompression, in bytes (InfluxDB's default).</summary>
    public long MaxBodySize { get; init; } = 25_000_000;

    /// <summary>
    /// Most memory the buffers of all request bodies being read or parsed may hold together, in bytes (after
    /// decompression); 0 means <see cref="DefaultBodyBytesInFlightFactor"/> × <see cref="MaxBodySize"/>. A write
    /// that finds no room within <c>Buffer:FullWaitTimeout</c> is answered 503 with <c>Retry-After</c>.
    /// </summary>
    public long MaxBodyBytesInFlight { get; init; }

    /// <summary>Longest a client may send nothing in the middle of a body before it is answered 408.</summary>
    public TimeSpan BodyReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public const int DefaultBodyBytesInFlightFactor = 4;

    /// <summary><see cref="MaxBodyBytesInFlight"/> with its default applied.</summary>
    public long BodyBytesInFlight => MaxBodyBytesInFlight > 0 ? MaxBodyBytesInFlight : DefaultBodyBytesInFlightFactor * MaxBodySize;

    /// <summary>The <c>X-Influxdb-Version</c> header; clients read it to tell a 1.x from a 2.x server.</summary>
    public string InfluxVersionHeader { get; init; } = "1.8.10-ingest";
}

/// <summary>Credentials required on the write endpoints (section <c>Auth</c>).</summary>
public sealed record AuthOptions
{
    public bool Enabled { get; init; }

    /// <summary>
    /// Allow anonymous writes on an address other than loopback. Off: the daemon refuses to start that way, so
    /// that a changed <c>--urls</c> never opens an unauthenticated write endpoint to a network by accident.
    /// </summary>
    public bool AllowAnonymousNonLoopback { get; init; }

    /// <summary>Tokens by the SHA-256 digest (lower-case hex) of the token: tokens themselves are never stored.</summary>
    public IReadOnlyDictionary<string, ApiToken> Tokens { get; init; } = new Dictionary<string, ApiToken>();

    /// <summary>Require a token with the <c>read</c> scope on <c>/metrics</c> too (off: Prometheus scrapes it openly).</summary>
    public bool ProtectMetrics { get; init; }

    /// <summary>Requests per second each token (or, without auth, each client address) may make; 0: no limit.</summary>
    public int RateLimitPerSecond { get; init; }

    /// <summary>Requests a token may make at once above its rate before it is refused (a burst).</summary>
    public int RateLimitBurst { get; init; } = 100;
}

/// <summary>What a token may do.</summary>
[Flags]
public enum Scopes
{
    None = 0,
    /// <summary><c>/write</c>, <c>/api/v2/write</c>.</summary>
    Write = 1,
    /// <summary>The API's reads (<c>GET /api/…</c>) and, when protected, <c>/metrics</c>.</summary>
    Read = 2,
    /// <summary>The API's changes (flush, pause, resume, acknowledgements); implies <see cref="Read"/>.</summary>
    Admin = 4,
    All = Write | Read | Admin,
}

/// <summary>
/// A configured API token: its name (for logs and limits), its scopes, and the databases it may use. As InfluxDB 1.x
/// grants privileges per database, a token with <see cref="Databases"/> writes and reads those databases only
/// (writes, history, snapshot, series, alerts, the live feed); a token without that list may use every database.
/// </summary>
public sealed record ApiToken(string Name, Scopes Scopes, IReadOnlySet<string>? Databases = null)
{
    /// <summary>Stands for every request while auth is off.</summary>
    public static readonly ApiToken Anonymous = new("anonymous", Scopes.All);

    /// <summary>The SHA-256 digest the token is configured by (null for <see cref="Anonymous"/>): what a reload checks a
    /// connection's token against.</summary>
    public string? Digest { get; init; }

    public bool Allows(Scopes scope) => (Scopes & scope) == scope || (scope == Scopes.Read && Scopes.HasFlag(Scopes.Admin));

    /// <summary>Whether the token may write or read <paramref name="database"/> (a database name, not <c>db/rp</c>: see <see cref="InfluxOptions.DatabaseOf"/>).</summary>
    public bool MayUse(string database) => Databases is null || Databases.Contains(database);
}

/// <summary>The write-ahead log under the buffer (section <c>Wal</c>).</summary>
public sealed record WalSettings
{
    /// <summary>Log every accepted batch before answering 2xx. Off: points live in memory only until delivered.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where the segments and checkpoints live; relative paths are taken from the working directory.</summary>
    public string Directory { get; init; } = "data/wal";

    /// <summary><c>per-write</c>: fsync before every acknowledgement (concurrent writes share one); <c>interval</c>: every <see cref="SyncInterval"/>.</summary>
    public Ingest.Wal.WalSyncMode SyncMode { get; init; } = Ingest.Wal.WalSyncMode.PerWrite;

    public TimeSpan SyncInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    public long SegmentBytes { get; init; } = 64L << 20;

    /// <summary>Most bytes of log kept; at the limit, <see cref="FullPolicy"/> applies.</summary>
    public long MaxBytes { get; init; } = 4L << 30;

    /// <summary><c>reject</c>: writes are answered 503 with Retry-After; <c>drop-oldest</c>: the oldest segment is deleted, its records counted as dropped.</summary>
    public WalFullPolicy FullPolicy { get; init; } = WalFullPolicy.Reject;

    /// <summary>How often delivery progress is recorded (and delivered segments deleted).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Where points go that InfluxDB will not store (section <c>DeadLetter</c>): refused for good, or failing the same
/// way write after write. They are set aside in line-protocol files beside the log instead of being dropped or
/// retried for ever, and can be replayed with <c>Ingest replay-dead-letters</c>.
/// </summary>
public sealed record DeadLetterOptions
{
    public static readonly TimeSpan DefaultAfterAge = TimeSpan.FromMinutes(5);

    /// <summary>Off: refused points are dropped (counted in <c>ingest_sink_points_dropped_total</c>) as before.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where the files go; relative paths are taken from the working directory, like <c>Wal:Directory</c>.</summary>
    public string Directory { get; init; } = "data/dead-letter";

    /// <summary>Most bytes of dead-letter files; beyond it refused points are dropped and counted (reason <c>dead_letter_full</c>).</summary>
    public long MaxBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Failed attempts of a write, other than those saying InfluxDB is unavailable, after which the write is
    /// bisected and the points that keep failing are set aside. Low enough that a failing target gives back its
    /// share of the buffer; high enough that a passing error is ridden out by the retries' backoff.
    /// </summary>
    public int AfterAttempts { get; init; } = 10;

    /// <summary>Or this long after a write's first failed attempt, whichever comes first.</summary>
    public TimeSpan AfterAge { get; init; } = DefaultAfterAge;
}

/// <summary>Checkpoints of the downsampling windows (section <c>Downsample</c>, beside <c>Tiers</c>).</summary>
public sealed record WindowSnapshotOptions
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often the open windows are written to <c>transforms.snapshot</c> (with the write-ahead log on). The log
    /// keeps about this much ingest for the windows (plus the time a snapshot takes); a snapshot costs about 300
    /// bytes and 0.4 µs of CPU per series and window, whatever happened since the last one.
    /// </summary>
    public TimeSpan Interval { get; init; } = DefaultInterval;
}

public enum WalFullPolicy
{
    Reject,
    DropOldest,
}

/// <summary>Redis connection (section <c>Redis</c>). Empty configuration: Redis not used.</summary>
public sealed record RedisOptions
{
    /// <summary>A StackExchange.Redis configuration string (<c>host:port[,option=value…]</c>), checked at start.</summary>
    public string Configuration { get; init; } = "";
    public bool Enabled => Configuration.Length > 0;

    /// <summary>The servers the configuration names (<c>host:port,…</c>), for status and logs: unlike the string, never a password.</summary>
    public string Endpoints { get; init; } = "";

    /// <summary>The configuration's <c>password=</c>, kept out of logs.</summary>
    public string Password { get; init; } = "";

    /// <summary>
    /// Put before every key the daemon writes (<c>Redis:KeyPrefix</c>), so that several daemons, or other
    /// applications, can share one Redis.
    /// </summary>
    public string KeyPrefix { get; init; } = DefaultKeyPrefix;

    public const string DefaultKeyPrefix = "ingest:";

    /// <summary>Before <c>{db}:{seriesKey}</c>: the hash of a series' live state.</summary>
    public string LiveKeyPrefix => KeyPrefix + "live:";

    /// <summary>The sorted set of the series with a live state, scored by their last update.</summary>
    public string LiveIndexKey => KeyPrefix + "live:series";

    /// <summary>The daemon's status as JSON.</summary>
    public string StatusKey => KeyPrefix + "status";

    /// <summary>The hash of the threshold states, by alert id.</summary>
    public string AlertStateKey => KeyPrefix + "alerts:state";

    /// <summary>The threshold check's event-time watermark.</summary>
    public string AlertWatermarkKey => KeyPrefix + "alerts:watermark";
}

/// <summary>All daemon settings, read and validated once at start.</summary>
public sealed record IngestOptions
{
    public InfluxOptions Influx { get; init; } = new();

    /// <summary>The configured sources (<c>Sources:&lt;name&gt;</c>), besides the HTTP write endpoints.</summary>
    public IReadOnlyList<Ingest.Sources.SourceOptions> Sources { get; init; } = [];
    public BufferOptions Buffer { get; init; } = new();
    public HttpOptions Http { get; init; } = new();
    public AuthOptions Auth { get; init; } = new();
    public RedisOptions Redis { get; init; } = new();
    public WalSettings Wal { get; init; } = new();
    public DeadLetterOptions DeadLetter { get; init; } = new();
    public Ingest.Sinks.Feed.FeedOptions Feed { get; init; } = new();
    public Ingest.Transforms.Live.LiveOptions Live { get; init; } = new();
    public PipelineOptions Pipeline { get; init; } = new();
    public Ingest.Transforms.Downsample.DownsampleOptions Downsample { get; init; } = new() { Tiers = [] };
    public WindowSnapshotOptions WindowSnapshots { get; init; } = new();
    public ThresholdsOptions Thresholds { get; init; } = new();
}
