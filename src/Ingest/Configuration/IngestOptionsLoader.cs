using System.Text.RegularExpressions;
using Ingest.Graph;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Configuration;

namespace Ingest.Configuration;

/// <summary>Builds <see cref="IngestOptions"/> from configuration, failing on the first bad or unknown key.</summary>
public static partial class IngestOptionsLoader
{
    public static IngestOptions Load(IConfiguration configuration)
    {
        var influx = ReadInflux(new SectionReader(configuration, "Influx"));
        var buffer = ReadBuffer(new SectionReader(configuration, "Buffer"));
        var http = ReadHttp(new SectionReader(configuration, "Http"));
        var auth = ReadAuth(new SectionReader(configuration, "Auth"));
        var redis = ReadRedis(new SectionReader(configuration, "Redis"));

        if (buffer.Capacity < influx.BatchSize)
            throw new ConfigurationError("Buffer:Capacity", buffer.Capacity.ToString(),
                $"must be at least Influx:BatchSize ({influx.BatchSize}), or no batch could ever fill");

        var pipeline = ReadPipeline(new SectionReader(configuration, "Pipeline"));
        var wal = ReadWal(new SectionReader(configuration, "Wal"));
        var deadLetter = ReadDeadLetter(new SectionReader(configuration, "DeadLetter"));
        var feedSection = new SectionReader(configuration, "Feed");
        var fd = new Ingest.Sinks.Feed.FeedOptions();
        var feed = new Ingest.Sinks.Feed.FeedOptions
        {
            MaxClients = feedSection.Int("MaxClients", fd.MaxClients, 1, 1_000_000),
            MaxSubscriptions = feedSection.Int("MaxSubscriptions", fd.MaxSubscriptions, 1, 10_000),
            ClientQueue = feedSection.Int("ClientQueue", fd.ClientQueue, 1, 1_000_000),
            ClientQueueBytes = feedSection.Long("ClientQueueBytes", fd.ClientQueueBytes, 65_536, 1L << 32),
            PublishQueue = feedSection.Int("PublishQueue", fd.PublishQueue, 1, 100_000_000),
            SlowClientTimeout = feedSection.Duration("SlowClientTimeout", fd.SlowClientTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            KeepAlive = feedSection.Duration("KeepAlive", fd.KeepAlive, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            AllowedOrigins = feedSection.List("AllowedOrigins") ?? fd.AllowedOrigins,
        };
        feedSection.RejectUnknownKeys();
        var live = Ingest.Transforms.Live.LiveOptions.Read(configuration);
        var (downsample, snapshots) = ReadDownsample(configuration);
        var thresholds = ReadThresholds(configuration);
        var sources = Ingest.Sources.SourcesReader.Read(configuration);

        return new IngestOptions
        {
            Influx = influx, Buffer = buffer, Http = http, Auth = auth, Redis = redis,
            Pipeline = pipeline, Downsample = downsample, WindowSnapshots = snapshots, Thresholds = thresholds, Wal = wal, DeadLetter = deadLetter, Feed = feed, Live = live,
            Sources = sources,
        };
    }

    /// <summary>The names of the full-policies, for every key that takes one (<c>Pipeline</c>, <c>Sources</c>).</summary>
    internal static readonly IReadOnlyDictionary<string, FullPolicy> Policies = new Dictionary<string, FullPolicy>
    {
        ["backpressure"] = FullPolicy.Backpressure,
        ["drop-oldest"] = FullPolicy.DropOldest,
        ["drop-newest"] = FullPolicy.DropNewest,
    };

    private static WalSettings ReadWal(SectionReader s)
    {
        var d = new WalSettings();
        var o = new WalSettings
        {
            Enabled = s.Bool("Enabled", d.Enabled),
            Directory = s.String("Directory", d.Directory),
            SyncMode = s.Choice("SyncMode", d.SyncMode, new Dictionary<string, Ingest.Wal.WalSyncMode>
            {
                ["per-write"] = Ingest.Wal.WalSyncMode.PerWrite,
                ["interval"] = Ingest.Wal.WalSyncMode.Interval,
            }),
            SyncInterval = s.Duration("SyncInterval", d.SyncInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)),
            SegmentBytes = s.Long("SegmentBytes", d.SegmentBytes, 1 << 20, 1L << 32),
            MaxBytes = s.Long("MaxBytes", d.MaxBytes, 1 << 20, long.MaxValue),
            FullPolicy = s.Choice("FullPolicy", d.FullPolicy, new Dictionary<string, WalFullPolicy>
            {
                ["reject"] = WalFullPolicy.Reject,
                ["drop-oldest"] = WalFullPolicy.DropOldest,
            }),
            CheckpointInterval = s.Duration("CheckpointInterval", d.CheckpointInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10)),
        };
        if (o.Enabled && o.Directory.Length == 0)
            throw new ConfigurationError("Wal:Directory", o.Directory, "a directory is required while Wal:Enabled is true");
        if (o.MaxBytes < 2 * o.SegmentBytes)
            throw new ConfigurationError("Wal:MaxBytes", o.MaxBytes.ToString(), $"must be at least two segments (2 x Wal:SegmentBytes = {2 * o.SegmentBytes})");
        s.RejectUnknownKeys();
        return o;
    }

    private static DeadLetterOptions ReadDeadLetter(SectionReader s)
    {
        var d = new DeadLetterOptions();
        var o = new DeadLetterOptions
        {
            Enabled = s.Bool("Enabled", d.Enabled),
            Directory = s.String("Directory", d.Directory),
            MaxBytes = s.Long("MaxBytes", d.MaxBytes, 1024, long.MaxValue),
            AfterAttempts = s.Int("AfterAttempts", d.AfterAttempts, 1, 1_000_000),
            AfterAge = s.Duration("AfterAge", d.AfterAge, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7)),
        };
        if (o.Enabled && o.Directory.Length == 0)
            throw new ConfigurationError("DeadLetter:Directory", o.Directory, "a directory is required while DeadLetter:Enabled is true");
        s.RejectUnknownKeys();
        return o;
    }

    private static PipelineOptions ReadPipeline(SectionReader s)
    {
        var d = new PipelineOptions();
        var o = new PipelineOptions
        {
            RawExclude = s.List("RawExclude") ?? d.RawExclude,
            RawQueueCapacity = s.Long("RawQueueCapacity", d.RawQueueCapacity, 1, 1_000_000_000),
            TransformQueueCapacity = s.Long("TransformQueueCapacity", d.TransformQueueCapacity, 1, 1_000_000_000),
            DerivedQueueCapacity = s.Long("DerivedQueueCapacity", d.DerivedQueueCapacity, 1, 1_000_000_000),
            AlertQueueCapacity = s.Long("AlertQueueCapacity", d.AlertQueueCapacity, 1, 1_000_000_000),
            DerivedQueuePolicy = s.Choice("DerivedQueuePolicy", d.DerivedQueuePolicy, Policies),
        };
        s.RejectUnknownKeys();
        return o;
    }

    /// <summary>The shortest downsampling window: below it a tier costs more than the raw points it stands for.</summary>
    public static readonly TimeSpan MinTierInterval = TimeSpan.FromSeconds(1);

    private static (DownsampleOptions, WindowSnapshotOptions) ReadDownsample(IConfiguration configuration)
    {
        var section = new SectionReader(configuration, "Downsample");
        var snapshots = new WindowSnapshotOptions
        {
            Interval = section.Duration("SnapshotInterval", WindowSnapshotOptions.DefaultInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
        };
        var tiers = new List<DownsampleTier>();
        foreach (var child in section.Elements("Tiers"))
        {
            var t = new SectionReader(configuration, $"Downsample:Tiers:{child.Key}");
            var d = new DownsampleTier();
            var interval = t.OptionalDuration("Interval") ?? TimeSpan.Zero;
            if (interval > TimeSpan.Zero && interval < MinTierInterval)
                throw new ConfigurationError($"Downsample:Tiers:{child.Key}:Interval", configuration[$"Downsample:Tiers:{child.Key}:Interval"],
                    $"must be at least {DurationParser.Format(MinTierInterval)}: every window of every series is a point written to InfluxDB, and shorter windows cost about what the raw points do");
            tiers.Add(new DownsampleTier
            {
                Name = t.String("Name", ""),
                Interval = interval,
                Measurements = t.List("Measurements") ?? d.Measurements,
                Fields = t.List("Fields") ?? d.Fields,
                Aggregates = t.List("Aggregates") ?? d.Aggregates,
                AllowedLateness = t.OptionalDuration("AllowedLateness") ?? TimeSpan.Zero,
                RetentionPolicy = t.String("RetentionPolicy", "") is { Length: > 0 } rp ? rp : null,
                Source = t.String("Source", "") is { Length: > 0 } src ? src : null,
            });
            t.RejectUnknownKeys();
        }
        section.RejectUnknownKeys();
        var options = new DownsampleOptions { Tiers = tiers };
        if (options.Validate() is { Count: > 0 } errors) throw ConfigurationError.FirstOf(errors, "Downsample:");
        return (options, snapshots);
    }

    private static readonly Dictionary<string, ThresholdDirection> Directions = new()
    {
        ["above"] = ThresholdDirection.Above,
        ["below"] = ThresholdDirection.Below,
    };

    private static ThresholdsOptions ReadThresholds(IConfiguration configuration)
    {
        var section = new SectionReader(configuration, "Thresholds");
        var d = new ThresholdsOptions();
        var rules = new List<ThresholdRule>();
        foreach (var child in section.Elements("Rules"))
        {
            var key = $"Thresholds:Rules:{child.Key}";
            var r = new SectionReader(configuration, key);
            var tags = r.Child("Tags").GetChildren().Select(t => TagMatcher.Parse(t.Key, t.Value ?? "")).ToList();
            rules.Add(new ThresholdRule
            {
                Name = r.String("Name", ""),
                Measurement = r.String("Measurement", ""),
                Field = r.String("Field", ""),
                Tags = tags,
                Direction = r.Choice("Direction", ThresholdDirection.Above, Directions),
                Warn = r.OptionalDouble("Warn"),
                Crit = r.OptionalDouble("Crit"),
                WarnReset = r.OptionalDouble("WarnReset"),
                CritReset = r.OptionalDouble("CritReset"),
                For = r.OptionalDuration("For") ?? TimeSpan.Zero,
                KeepFiringFor = r.OptionalDuration("KeepFiringFor") ?? TimeSpan.Zero,
                NoDataTimeout = r.OptionalDuration("NoDataTimeout"),
            });
            r.RejectUnknownKeys();
        }
        var o = new ThresholdsOptions
        {
            Rules = rules,
            Measurement = section.String("Measurement", d.Measurement),
            StateFlushInterval = section.Duration("StateFlushInterval", d.StateFlushInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10)),
        };
        section.RejectUnknownKeys();
        if (ThresholdRuleValidator.Validate(rules, "Thresholds:Rules") is { Count: > 0 } errors)
            throw ConfigurationError.FirstOf(errors.Select(e => e.ToString()).ToList());
        if (o.Measurement.Length == 0) throw new ConfigurationError("Thresholds:Measurement", o.Measurement, "a measurement name is required");
        return o;
    }

    private static InfluxOptions ReadInflux(SectionReader s)
    {
        var d = new InfluxOptions();
        var o = new InfluxOptions
        {
            Url = s.Url("Url", d.Url.ToString()),
            ApiVersion = s.Int("ApiVersion", d.ApiVersion, 1, 2),
            Database = s.String("Database", d.Database),
            RetentionPolicy = s.String("RetentionPolicy", d.RetentionPolicy),
            Org = s.String("Org", d.Org),
            Bucket = s.String("Bucket", d.Bucket),
            Token = s.String("Token", d.Token),
            Username = s.String("Username", d.Username),
            Password = s.String("Password", d.Password),
            BatchSize = s.Int("BatchSize", d.BatchSize, 1, 1_000_000),
            FlushInterval = s.Duration("FlushInterval", d.FlushInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1)),
            MaxConcurrentRequests = s.Int("MaxConcurrentRequests", d.MaxConcurrentRequests, 1, 64),
            Timeout = s.Duration("Timeout", d.Timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            Gzip = s.Bool("Gzip", d.Gzip),
            CreateDatabase = s.Bool("CreateDatabase", d.CreateDatabase),
            RetryInitialDelay = s.Duration("RetryInitialDelay", d.RetryInitialDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10)),
            RetryMaxDelay = s.Duration("RetryMaxDelay", d.RetryMaxDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1)),
        };
        s.RejectUnknownKeys();

        if (o.ApiVersion == 1 && o.Database.Length == 0)
            throw new ConfigurationError("Influx:Database", o.Database, "a default database is required with Influx:ApiVersion 1");
        if (o.ApiVersion == 2)
        {
            if (o.Bucket.Length == 0) throw new ConfigurationError("Influx:Bucket", o.Bucket, "a default bucket is required with Influx:ApiVersion 2");
            if (o.Org.Length == 0) throw new ConfigurationError("Influx:Org", o.Org, "an organization is required with Influx:ApiVersion 2");
        }
        if (o.RetryMaxDelay < o.RetryInitialDelay)
            throw new ConfigurationError("Influx:RetryMaxDelay", DurationParser.Format(o.RetryMaxDelay), "must not be shorter than Influx:RetryInitialDelay");
        return o;
    }

    /// <summary>
    /// Parsed now, as the connection would parse it, so that a string the daemon cannot connect with stops the start
    /// with its reason instead of failing a background service later. StackExchange.Redis skips an endpoint it
    /// cannot parse (<c>host:notaport</c>), so each endpoint is checked on its own.
    /// </summary>
    private static RedisOptions ReadRedis(SectionReader s)
    {
        const string key = "Redis:Configuration";
        var configuration = s.String("Configuration", "");
        var prefix = s.String("KeyPrefix", RedisOptions.DefaultKeyPrefix);
        s.RejectUnknownKeys();
        if (prefix.Length > 200 || prefix.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new ConfigurationError("Redis:KeyPrefix", prefix, "at most 200 characters, without spaces or control characters");
        if (configuration.Length == 0) return new RedisOptions { KeyPrefix = prefix };
        StackExchange.Redis.ConfigurationOptions parsed;
        try
        {
            parsed = StackExchange.Redis.ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationError(key, configuration, "not a StackExchange.Redis configuration string: " + e.Message);
        }
        foreach (var part in configuration.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Contains('=')) continue;
            if (StackExchange.Redis.ConfigurationOptions.Parse(part).EndPoints.Count != 1)
                throw new ConfigurationError(key, configuration, $"'{part}' is not an endpoint: expected host or host:port, the port from 1 to 65535");
        }
        if (parsed.EndPoints.Count == 0)
            throw new ConfigurationError(key, configuration, "no endpoint given: expected host:port, e.g. 127.0.0.1:6379");
        return new RedisOptions
        {
            Configuration = configuration,
            Endpoints = string.Join(",", parsed.EndPoints.Select(e => e switch
            {
                System.Net.DnsEndPoint d => $"{d.Host}:{d.Port}",
                _ => e.ToString(),
            })),
            Password = parsed.Password ?? "",
            KeyPrefix = prefix,
        };
    }

    private static BufferOptions ReadBuffer(SectionReader s)
    {
        var d = new BufferOptions();
        var o = new BufferOptions
        {
            Capacity = s.Long("Capacity", d.Capacity, 1, 1_000_000_000),
            FullWaitTimeout = s.Duration("FullWaitTimeout", d.FullWaitTimeout, TimeSpan.Zero, TimeSpan.FromMinutes(5)),
            RetryAfterSeconds = s.Int("RetryAfterSeconds", d.RetryAfterSeconds, 1, 3600),
        };
        s.RejectUnknownKeys();
        return o;
    }

    private static HttpOptions ReadHttp(SectionReader s)
    {
        var d = new HttpOptions();
        var o = new HttpOptions
        {
            MaxBodySize = s.Long("MaxBodySize", d.MaxBodySize, 1024, 1L << 31),
            MaxBodyBytesInFlight = s.Long("MaxBodyBytesInFlight", d.MaxBodyBytesInFlight, 0, long.MaxValue),
            BodyReadTimeout = s.Duration("BodyReadTimeout", d.BodyReadTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            InfluxVersionHeader = s.String("InfluxVersionHeader", d.InfluxVersionHeader),
        };
        s.RejectUnknownKeys();
        // A body's buffer grows by doubling, so reading one of the largest holds up to twice the limit for a moment.
        if (o.MaxBodyBytesInFlight > 0 && o.MaxBodyBytesInFlight < 2 * o.MaxBodySize)
            throw new ConfigurationError("Http:MaxBodyBytesInFlight", o.MaxBodyBytesInFlight.ToString(),
                $"must be 0 (the default, {HttpOptions.DefaultBodyBytesInFlightFactor} x Http:MaxBodySize) or at least twice Http:MaxBodySize ({2 * o.MaxBodySize}), or the largest body could never be read");
        return o;
    }

    private static AuthOptions ReadAuth(SectionReader s)
    {
        var enabled = s.Bool("Enabled", false);
        var allowAnonymous = s.Bool("AllowAnonymousNonLoopback", false);
        var protectMetrics = s.Bool("ProtectMetrics", false);
        var rateLimit = s.Int("RateLimitPerSecond", 0, 0, 1_000_000);
        var burst = s.Int("RateLimitBurst", 100, 1, 1_000_000);
        var hashes = new Dictionary<string, ApiToken>(StringComparer.Ordinal);
        foreach (var token in s.Elements("Tokens"))
        {
            var key = $"Auth:Tokens:{token.Key}";
            foreach (var child in token.GetChildren())
                if (!TokenKeys.Contains(child.Key))
                    throw new ConfigurationError($"{key}:{child.Key}", child.Value, "unknown key (a token has Name, Sha256, Scopes and Databases)");
            var hash = token["Sha256"]?.Trim().ToLowerInvariant() ?? "";
            var name = token["Name"]?.Trim() ?? token.Key;
            if (!Sha256Hex().IsMatch(hash))
                throw new ConfigurationError($"{key}:Sha256", token["Sha256"],
                    "expected the token's SHA-256 digest as 64 hex digits (print one with: Ingest hash-token <token>)");
            var scopes = Scopes.None;
            var listed = token.GetSection("Scopes").GetChildren().ToList();
            // A token written before scopes existed was a write token.
            if (listed.Count == 0 && token["Scopes"] is null) scopes = Scopes.Write;
            foreach (var scope in listed)
            {
                scopes |= scope.Value?.Trim().ToLowerInvariant() switch
                {
                    "write" => Scopes.Write,
                    "read" => Scopes.Read,
                    "admin" => Scopes.Admin,
                    _ => throw new ConfigurationError($"{key}:Scopes:{scope.Key}", scope.Value, "expected write, read or admin"),
                };
            }
            if (scopes == Scopes.None)
                throw new ConfigurationError($"{key}:Scopes", token["Scopes"] ?? "", "a token needs at least one scope: write, read or admin");
            if (hashes.ContainsKey(hash))
                throw new ConfigurationError($"{key}:Sha256", token["Sha256"], "the same token is configured twice");
            hashes[hash] = new ApiToken(name, scopes, ReadDatabases(token, key)) { Digest = hash };
        }
        s.RejectUnknownKeys();
        if (enabled && hashes.Count == 0)
            throw new ConfigurationError("Auth:Tokens", "", "Auth:Enabled is true but no token is configured, so every write would be refused");
        return new AuthOptions { Enabled = enabled, AllowAnonymousNonLoopback = allowAnonymous, Tokens = hashes, ProtectMetrics = protectMetrics,
            RateLimitPerSecond = rateLimit, RateLimitBurst = burst };
    }

    private static readonly HashSet<string> TokenKeys = new(["Name", "Sha256", "Scopes", "Databases"], StringComparer.OrdinalIgnoreCase);

    /// <summary>A token's <c>Databases</c>: null when absent (every database), else the exact names (case matters, as in InfluxDB).</summary>
    private static HashSet<string>? ReadDatabases(IConfigurationSection token, string key)
    {
        var section = token.GetSection("Databases");
        var listed = section.GetChildren().ToList();
        if (listed.Count == 0)
        {
            if (section.Value is null) return null;
            // A single name given without an index (--Auth:Tokens:0:Databases=metrics).
            listed = [section];
        }
        var databases = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in listed)
        {
            var name = entry.Value?.Trim() ?? "";
            var at = entry == section ? $"{key}:Databases" : $"{key}:Databases:{entry.Key}";
            if (name.Length == 0) throw new ConfigurationError(at, entry.Value, "expected a database name");
            if (name.Contains('/'))
                throw new ConfigurationError(at, entry.Value, "expected a database name; a grant covers all its retention policies, so db/rp is not needed");
            databases.Add(name);
        }
        return databases;
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
