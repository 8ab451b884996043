using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Sources.Decoding;

namespace Ingest.Sources;

/// <summary>One configured source (<c>Sources:&lt;name&gt;</c>): what every type has, plus its type's own settings.</summary>
public sealed record SourceOptions
{
    public const int DefaultBufferCapacity = 1000;
    public const int DefaultMaxBatchPoints = 5000;
    public static readonly TimeSpan DefaultBatchInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The section's name: the source's stage name in <c>/api/status</c> and the <c>source</c> label.</summary>
    public string Name { get; init; } = "";

    /// <summary>The type (<see cref="SourceCatalog"/>): websocket, sse, http, redis, nats, sql, udp.</summary>
    public string Type { get; init; } = "";

    public bool Enabled { get; init; } = true;

    /// <summary>Target database (or bucket); empty: <c>Influx:Database</c>.</summary>
    public string Database { get; init; } = "";

    public string RetentionPolicy { get; init; } = "";

    /// <summary>Tags added to every point of the source (a point's own tag of the same key wins).</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>Batches (gathered messages) the source holds while admission is slower than it (its own buffer).</summary>
    public int BufferCapacity { get; init; } = DefaultBufferCapacity;

    /// <summary>What a full buffer does: backpressure (at-least-once types' default), drop-oldest or drop-newest.</summary>
    public FullPolicy FullPolicy { get; init; } = FullPolicy.DropOldest;

    /// <summary>About the most points admitted as one batch (one log record): messages are gathered up to it, by their lines…</summary>
    public int MaxBatchPoints { get; init; } = DefaultMaxBatchPoints;

    /// <summary>…or for this long after the first one, whichever comes first.</summary>
    public TimeSpan BatchInterval { get; init; } = DefaultBatchInterval;

    /// <summary>How payloads become points.</summary>
    public PayloadOptions Payload { get; init; } = new();

    /// <summary>The type's own settings, as its <see cref="SourceType.ReadSettings"/> gave them.</summary>
    public object? Settings { get; init; }

    public T SettingsAs<T>() where T : class => Settings as T
        ?? throw new InvalidOperationException($"source '{Name}' of type {Type} has no {typeof(T).Name}");
}

/// <summary>
/// A source type: its name in configuration, its delivery (or, with <paramref name="DeliveryOf"/>, the delivery its
/// settings choose: NATS core or JetStream, Redis pub/sub or streams), how its own keys are read (failing on a bad
/// value with the full key) and how its connector is made.
/// </summary>
internal sealed record SourceType(
    string Name,
    SourceDelivery Delivery,
    Func<SectionReader, object> ReadSettings,
    Func<SourceOptions, IServiceProvider, ISourceConnector> Create,
    Func<object, SourceDelivery>? DeliveryOf = null);

/// <summary>The source types the daemon knows, by their <c>Type</c> value.</summary>
internal static partial class SourceCatalog
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SourceType> Known = new(StringComparer.Ordinal);

    static SourceCatalog()
    {
        foreach (var type in BuiltIn()) Known[type.Name] = type;
    }

    public static IReadOnlyCollection<string> Names => Known.Keys.ToList();

    public static SourceType? Find(string name) => Known.GetValueOrDefault(name);

    /// <summary>Adds a type not built in (the runner's tests use a connector of their own); a known name is replaced.</summary>
    internal static void Add(SourceType type) => Known[type.Name] = type;

    /// <summary>Every built-in type; each type's file adds itself here.</summary>
    private static IEnumerable<SourceType> BuiltIn()
    {
        yield return Nats.NatsSource.Type;
        yield return Sql.SqlSettings.Type;
        yield return Udp.UdpSettings.Type;
        yield return Web.WebSocketConnector.Type;
        yield return Web.SseConnector.Type;
        yield return Web.HttpPollConnector.Type;
        yield return RedisType;
    }
}

/// <summary>Reads <c>Sources</c>: a section per source, named by its key.</summary>
internal static class SourcesReader
{
    public static IReadOnlyList<SourceOptions> Read(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var sources = new List<SourceOptions>();
        foreach (var child in configuration.GetSection("Sources").GetChildren())
        {
            var key = "Sources:" + child.Key;
            if (child.Value is not null)
                throw new ConfigurationError(key, child.Value, "a source is a section with at least Type");
            if (child.Key is "http" or "buffer" || !IsName(child.Key))
                throw new ConfigurationError(key, child.Key,
                    "a source's name is its stage name: letters, digits, '_' and '-', and not 'http' or 'buffer' (the daemon's own stages)");
            var r = new SectionReader(configuration, key);
            var typeName = r.String("Type", "");
            var type = SourceCatalog.Find(typeName)
                ?? throw new ConfigurationError(key + ":Type", typeName, $"unknown source type (known: {string.Join(", ", SourceCatalog.Names.Order())})");
            // The type's own keys first: its delivery may depend on them, and the default full-policy on that.
            var settings = type.ReadSettings(r);
            var delivery = type.DeliveryOf?.Invoke(settings) ?? type.Delivery;
            var defaultPolicy = delivery == SourceDelivery.AtLeastOnce ? FullPolicy.Backpressure : FullPolicy.DropOldest;
            var options = new SourceOptions
            {
                Name = child.Key,
                Type = typeName,
                Enabled = r.Bool("Enabled", true),
                Database = r.String("Database", ""),
                RetentionPolicy = r.String("RetentionPolicy", ""),
                Tags = r.Child("Tags").GetChildren().ToDictionary(t => t.Key, t => t.Value ?? "", StringComparer.Ordinal),
                BufferCapacity = r.Int("BufferCapacity", SourceOptions.DefaultBufferCapacity, 1, 10_000_000),
                FullPolicy = r.Choice("FullPolicy", defaultPolicy, IngestOptionsLoader.Policies),
                MaxBatchPoints = r.Int("MaxBatchPoints", SourceOptions.DefaultMaxBatchPoints, 1, 1_000_000),
                BatchInterval = r.Duration("BatchInterval", SourceOptions.DefaultBatchInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)),
                Payload = PayloadOptions.Read(r),
                Settings = settings,
            };
            if (delivery == SourceDelivery.AtLeastOnce && options.FullPolicy != FullPolicy.Backpressure)
                throw new ConfigurationError(key + ":FullPolicy", r.String("FullPolicy", ""),
                    $"a {typeName} source is read at least once: only backpressure keeps that promise");
            ExtraTags.Validate(key, options.Tags);
            r.RejectUnknownKeys();
            sources.Add(options);
        }
        return sources;
    }

    private static bool IsName(string name) => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
