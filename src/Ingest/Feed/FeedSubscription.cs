using System.Text.Json;
using Ingest.LineProtocol;
using Ingest.Transforms;

namespace Ingest.Feed;

/// <summary>What a client asked for with one <c>subscribe</c>: a channel and its filters.</summary>
public sealed class FeedSubscription
{
    public required int Id { get; init; }

    /// <summary><c>points</c>, <c>aggregates</c> or <c>alerts</c>.</summary>
    public required string Channel { get; init; }

    /// <summary>With <c>aggregates</c>: the tier (<c>1m</c>); matched against the output measurement's suffix.</summary>
    public string? Tier { get; init; }

    /// <summary>Glob on the measurement (for <c>aggregates</c>, the raw measurement, without the tier suffix); null: all.</summary>
    public string? Measurement { get; init; }

    /// <summary>Globs on tag values by tag key; every one must match.</summary>
    public IReadOnlyList<(string Key, string Pattern)> Tags { get; init; } = [];

    /// <summary>Globs on field keys; a point is sent with the matching fields only, and not at all without any. Null: all fields.</summary>
    public IReadOnlyList<string>? Fields { get; init; }

    /// <summary>Parses a <c>subscribe</c> message; the error says what is wrong.</summary>
    public static FeedSubscription? Parse(JsonElement message, int id, out string? error)
    {
        error = null;
        var channel = message.TryGetProperty("channel", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
        if (channel is not ("points" or "aggregates" or "alerts"))
        {
            error = "channel must be points, aggregates or alerts";
            return null;
        }
        string? tier = null;
        if (channel == "aggregates")
        {
            tier = message.TryGetProperty("tier", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (string.IsNullOrEmpty(tier))
            {
                error = "the aggregates channel needs a tier, e.g. \"tier\":\"1m\"";
                return null;
            }
        }
        var tags = new List<(string, string)>();
        if (message.TryGetProperty("tags", out var tagObject))
        {
            if (tagObject.ValueKind != JsonValueKind.Object)
            {
                error = "tags must be an object of tag key to value (globs * and ? allowed)";
                return null;
            }
            foreach (var p in tagObject.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    error = $"tags.{p.Name} must be a string";
                    return null;
                }
                tags.Add((p.Name, p.Value.GetString()!));
            }
        }
        List<string>? fields = null;
        if (message.TryGetProperty("fields", out var f))
        {
            if (f.ValueKind != JsonValueKind.Array || f.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            {
                error = "fields must be an array of field keys (globs allowed)";
                return null;
            }
            fields = f.EnumerateArray().Select(x => x.GetString()!).ToList();
        }
        return new FeedSubscription
        {
            Id = id,
            Channel = channel,
            Tier = tier,
            Measurement = message.TryGetProperty("measurement", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null,
            Tags = tags,
            Fields = fields,
        };
    }

    /// <summary>
    /// Whether a series (by its key hash) matched, remembered so that the globs run once per series, not once
    /// per point. Used only on the transform runner's thread; cleared when it grows past 100 000 series.
    /// </summary>
    internal Dictionary<ulong, bool> SeriesMatches { get; } = new();

    public bool MatchesSeries(string measurement, IReadOnlyList<DecodedTag> tags)
    {
        if (Measurement is not null && !Glob.IsMatch(Measurement, measurement)) return false;
        foreach (var (key, pattern) in Tags)
        {
            var tag = tags.FirstOrDefault(t => t.Key == key);
            if (tag is null || !Glob.IsMatch(pattern, tag.Value)) return false;
        }
        return true;
    }

    public bool MatchesField(string field) => Fields is null || Fields.Any(p => Glob.IsMatch(p, field));
}
