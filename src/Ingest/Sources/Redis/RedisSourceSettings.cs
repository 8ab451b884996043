using System.Text.RegularExpressions;
using Ingest.Configuration;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>How a <c>redis</c> source reads: what its <c>Mode</c> names.</summary>
public enum RedisSourceMode
{
    /// <summary>SUBSCRIBE / PSUBSCRIBE; each message is one source message; at most once.</summary>
    PubSub,

    /// <summary>XREADGROUP in a consumer group; XACK once admitted; at least once.</summary>
    Stream,

    /// <summary>LMOVE into a processing list; LREM once admitted; at least once.</summary>
    List,

    /// <summary>SCAN + HGETALL every <c>Interval</c>; one poll is one message; polled.</summary>
    Hashes,
}

/// <summary>The keys of a <c>Sources:&lt;name&gt;</c> section of <c>Type: redis</c> (README, "Redis source").</summary>
public sealed partial record RedisSourceSettings
{
    public static readonly TimeSpan DefaultClaimIdle = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public const int DefaultCount = 100;

    /// <summary>The source's own StackExchange.Redis configuration string; empty: the daemon's <c>Redis:Configuration</c>.</summary>
    public string Configuration { get; init; } = "";

    public RedisSourceMode Mode { get; init; }

    // pubsub
    public IReadOnlyList<string> Channels { get; init; } = [];
    public IReadOnlyList<string> Patterns { get; init; } = [];

    // stream
    public IReadOnlyList<string> Streams { get; init; } = [];
    public string Group { get; init; } = "";
    public string StartId { get; init; } = "$";
    public string Field { get; init; } = "data";
    public TimeSpan ClaimIdle { get; init; } = DefaultClaimIdle;

    // stream and list
    public string Consumer { get; init; } = "";

    /// <summary>Most entries (elements) read by one command (one pull of an empty read-ahead).</summary>
    public int Count { get; init; } = DefaultCount;

    /// <summary>How long an empty stream or list is left alone before it is read again.</summary>
    public TimeSpan PollInterval { get; init; } = DefaultPollInterval;

    // list
    public string Key { get; init; } = "";
    public string ProcessingKey { get; init; } = "";

    // hashes
    public string Pattern { get; init; } = "";
    public TimeSpan Interval { get; init; } = DefaultInterval;
    public string Measurement { get; init; } = "";
    public bool NumericOnly { get; init; }

    /// <summary>The pattern's text before its first wildcard: what a key's <c>key</c> tag leaves out.</summary>
    public string PatternPrefix => Pattern.IndexOfAny(['*', '?', '[', '\\']) is var i and >= 0 ? Pattern[..i] : Pattern;

    private static readonly Dictionary<string, RedisSourceMode> Modes = new()
    {
        ["pubsub"] = RedisSourceMode.PubSub,
        ["stream"] = RedisSourceMode.Stream,
        ["list"] = RedisSourceMode.List,
        ["hashes"] = RedisSourceMode.Hashes,
    };

    internal static RedisSourceSettings Read(SectionReader r)
    {
        var configuration = r.String("Configuration", "");
        if (configuration.Length > 0) CheckConfiguration(r.Name + ":Configuration", configuration);

        var modeText = r.String("Mode", "");
        if (modeText.Length == 0)
            throw new ConfigurationError(r.Name + ":Mode", modeText, "a redis source needs a Mode: pubsub, stream, list or hashes");
        var mode = r.Choice("Mode", RedisSourceMode.PubSub, Modes);

        // The type is declared at least once (its streams and lists are), so every mode is read with backpressure:
        // a pubsub source drops its oldest messages itself, a hashes source polls no faster than it is pulled.
        if (mode is RedisSourceMode.PubSub or RedisSourceMode.Hashes && r.String("FullPolicy", "") is { Length: > 0 } policy
            && !policy.Equals("backpressure", StringComparison.OrdinalIgnoreCase))
            throw new ConfigurationError(r.Name + ":FullPolicy", policy,
                $"a redis source in {modeText} mode takes only backpressure (pubsub drops its oldest messages itself once BufferCapacity wait, counted as buffer_full)");

        var settings = new RedisSourceSettings { Configuration = configuration, Mode = mode };
        return mode switch
        {
            RedisSourceMode.PubSub => ReadPubSub(r, settings),
            RedisSourceMode.Stream => ReadStream(r, settings),
            RedisSourceMode.List => ReadList(r, settings),
            _ => ReadHashes(r, settings),
        };
    }

    private static RedisSourceSettings ReadPubSub(SectionReader r, RedisSourceSettings s)
    {
        var channels = Names(r, "Channels");
        var patterns = Names(r, "Patterns");
        if (channels.Count + patterns.Count == 0)
            throw new ConfigurationError(r.Name + ":Channels", "", "a redis source in pubsub mode needs Channels (SUBSCRIBE) or Patterns (PSUBSCRIBE)");
        return s with { Channels = channels, Patterns = patterns };
    }

    private static RedisSourceSettings ReadStream(SectionReader r, RedisSourceSettings s)
    {
        var streams = Names(r, "Stream");
        if (streams.Count == 0)
            throw new ConfigurationError(r.Name + ":Stream", "", "a redis source in stream mode needs the stream key (or keys) it reads");
        var group = r.String("Group", "");
        if (group.Length == 0)
            throw new ConfigurationError(r.Name + ":Group", group, "a redis source in stream mode needs the consumer group it reads in (created with MKSTREAM if missing)");
        var startId = r.String("StartId", "$");
        if (startId != "$" && !EntryId().IsMatch(startId))
            throw new ConfigurationError(r.Name + ":StartId", startId, "expected $ (new entries only), 0 (the whole stream) or an entry id such as 1700000000000-0");
        var field = r.String("Field", "data");
        if (field.Length == 0) throw new ConfigurationError(r.Name + ":Field", field, "the entry field that holds the payload may not be empty");
        return s with
        {
            Streams = streams,
            Group = group,
            StartId = startId,
            Field = field,
            Consumer = ConsumerName(r),
            ClaimIdle = r.Duration("ClaimIdle", DefaultClaimIdle, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7)),
            Count = r.Int("Count", DefaultCount, 1, 100_000),
            PollInterval = r.Duration("PollInterval", DefaultPollInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)),
        };
    }

    private static RedisSourceSettings ReadList(SectionReader r, RedisSourceSettings s)
    {
        var key = r.String("Key", "");
        if (key.Length == 0) throw new ConfigurationError(r.Name + ":Key", key, "a redis source in list mode needs the list key it takes elements from");
        var consumer = ConsumerName(r);
        var processing = r.String("ProcessingKey", "");
        if (processing.Length == 0) processing = $"{key}:processing:{consumer}";
        if (processing == key) throw new ConfigurationError(r.Name + ":ProcessingKey", processing, "must differ from Key");
        return s with
        {
            Key = key,
            Consumer = consumer,
            ProcessingKey = processing,
            Count = r.Int("Count", DefaultCount, 1, 100_000),
            PollInterval = r.Duration("PollInterval", DefaultPollInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)),
        };
    }

    private static RedisSourceSettings ReadHashes(SectionReader r, RedisSourceSettings s)
    {
        var pattern = r.String("Pattern", "");
        if (pattern.Length == 0) throw new ConfigurationError(r.Name + ":Pattern", pattern, "a redis source in hashes mode needs the key pattern it scans, such as peer:*");
        var measurement = r.String("Measurement", "");
        if (measurement.Length == 0)
        {
            var colon = pattern.IndexOf(':');
            measurement = colon > 0 ? pattern[..colon] : "";
            if (measurement.Length == 0 || measurement.IndexOfAny(['*', '?', '[', '\\']) >= 0)
                throw new ConfigurationError(r.Name + ":Measurement", "",
                    $"the pattern '{pattern}' has no plain prefix before a ':' to name the measurement: set Measurement");
        }
        return s with
        {
            Pattern = pattern,
            Measurement = measurement,
            Interval = r.Duration("Interval", DefaultInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1)),
            NumericOnly = r.Bool("NumericOnly", false),
        };
    }

    private static string ConsumerName(SectionReader r)
    {
        var consumer = r.String("Consumer", "");
        return consumer.Length > 0 ? consumer : Environment.MachineName;
    }

    /// <summary>A key given as one string or as an array; empty entries are an error.</summary>
    private static IReadOnlyList<string> Names(SectionReader r, string key)
    {
        var names = r.List(key) ?? [];
        for (var i = 0; i < names.Count; i++)
            if (names[i].Length == 0)
                throw new ConfigurationError(names.Count == 1 ? $"{r.Name}:{key}" : $"{r.Name}:{key}:{i}", "", "may not be empty");
        return names;
    }

    private static void CheckConfiguration(string key, string configuration)
    {
        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationError(key, Ingest.Sinks.Redis.RedisConnection.Redact(configuration), e.Message);
        }
        if (parsed.EndPoints.Count == 0)
            throw new ConfigurationError(key, Ingest.Sinks.Redis.RedisConnection.Redact(configuration), "names no server (host:port)");
    }

    [GeneratedRegex(@"^\d+(-\d+)?$")]
    private static partial Regex EntryId();
}
