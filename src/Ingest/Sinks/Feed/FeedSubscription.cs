using System.Text.Json;
using Ingest.LineProtocol;
using Ingest.Transforms;

namespace Ingest.Sinks.Feed;

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

    /// <summary>
    /// Parses a <c>subscribe</c> message; null with <paramref name="error"/> naming the property and what is wrong
    /// with it. Unknown properties are errors too, so that a misspelt filter never passes for "everything".
    /// </summary>
    public static FeedSubscription? Parse(JsonElement message, int id, out string? error)
    {
        error = null;
        foreach (var property in message.EnumerateObject())
        {
            if (property.Name is not ("op" or "channel" or "tier" or "measurement" or "tags" or "fields"))
                return Fail(out error, $"unknown property '{Shorten(property.Name)}': subscribe takes channel, tier, measurement, tags and fields");
        }
        if (!message.TryGetProperty("channel", out var c)) return Fail(out error, "channel is missing: points, aggregates or alerts");
        var channel = c.ValueKind == JsonValueKind.String ? c.GetString()! : null;
        if (channel is not ("points" or "aggregates" or "alerts"))
            return Fail(out error, $"channel must be points, aggregates or alerts, not {Describe(c)}");

        string? tier = null;
        if (message.TryGetProperty("tier", out var t))
        {
            if (TierBelongs(channel, tier: "", "\"tier\":\"1m\"", out error) is false) return null;
            if (t.ValueKind != JsonValueKind.String || t.GetString() is not { Length: > 0 and <= 64 } text)
                return Fail(out error, $"tier must be a tier's name such as \"1m\", not {Describe(t)}");
            tier = text;
        }
        else if (TierBelongs(channel, tier: null, "\"tier\":\"1m\"", out error) is false) return null;

        string? measurement = null;
        if (message.TryGetProperty("measurement", out var m))
        {
            if (m.ValueKind != JsonValueKind.String) return Fail(out error, $"measurement must be a string (globs * and ? allowed), not {Describe(m)}");
            measurement = m.GetString()!;
            if (TooLong("measurement", measurement, out error)) return null;
        }

        var tags = new List<(string, string)>();
        if (message.TryGetProperty("tags", out var tagObject))
        {
            if (tagObject.ValueKind != JsonValueKind.Object)
                return Fail(out error, $"tags must be an object of tag key to value (globs * and ? allowed), not {Describe(tagObject)}");
            foreach (var p in tagObject.EnumerateObject())
            {
                if (TooLong("a tag key", p.Name, out error)) return null;
                if (p.Value.ValueKind != JsonValueKind.String) return Fail(out error, $"tags.{Shorten(p.Name)} must be a string, not {Describe(p.Value)}");
                var pattern = p.Value.GetString()!;
                if (TooLong($"tags.{Shorten(p.Name)}", pattern, out error)) return null;
                tags.Add((p.Name, pattern));
            }
        }

        List<string>? fields = null;
        if (message.TryGetProperty("fields", out var f))
        {
            if (f.ValueKind != JsonValueKind.Array) return Fail(out error, $"fields must be an array of field keys (globs allowed), not {Describe(f)}");
            fields = new List<string>(f.GetArrayLength());
            var index = 0;
            foreach (var x in f.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.String) return Fail(out error, $"fields[{index}] must be a string, not {Describe(x)}");
                if (TooLong($"fields[{index}]", x.GetString()!, out error)) return null;
                fields.Add(x.GetString()!);
                index++;
            }
        }
        return new FeedSubscription
        {
            Id = id,
            Channel = channel,
            Tier = tier,
            Measurement = measurement,
            Tags = tags,
            Fields = fields,
        };
    }

    /// <summary>
    /// The rule both forms share: a tier goes with the aggregates channel, and that channel needs one. False with
    /// <paramref name="error"/> when <paramref name="tier"/> (null: not given) breaks it; <paramref name="example"/>
    /// shows a tier as the form writes it.
    /// </summary>
    private static bool TierBelongs(string channel, string? tier, string example, out string? error)
    {
        error = null;
        if (tier is not null && channel != "aggregates") error = "tier applies to the aggregates channel only";
        else if (tier is null && channel == "aggregates") error = $"the aggregates channel needs a tier, e.g. {example}";
        return error is null;
    }

    /// <summary>
    /// Parses the query of <c>GET /api/stream</c>, one subscription as <c>subscribe</c> gives it: <c>channel</c>,
    /// <c>tier</c>, <c>measurement</c>, <c>tag=key:glob</c> and <c>field=glob</c> (each repeatable), checked as
    /// <see cref="Parse"/> checks the message; null with <paramref name="error"/> naming the parameter. The
    /// credential parameters (<c>token</c>, <c>u</c>, <c>p</c>) are the auth's; anything else is an error.
    /// </summary>
    public static FeedSubscription? FromQuery(IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> query, int id, out string? error)
    {
        error = null;
        string? channel = null, tier = null, measurement = null;
        var tags = new List<(string, string)>();
        List<string>? fields = null;
        foreach (var (name, values) in query)
        {
            switch (name)
            {
                case "token" or "u" or "p":
                    break;
                case "channel" or "tier" or "measurement":
                    if (values.Count != 1) return Fail(out error, $"{name} is given {values.Count} times: give it once");
                    var value = values[0] ?? "";
                    if (name == "channel") channel = value;
                    else if (name == "tier") tier = value;
                    else measurement = value;
                    break;
                case "tag":
                    foreach (var t in values.Select(v => v ?? ""))
                    {
                        var colon = t.IndexOf(':');
                        if (colon <= 0) return Fail(out error, $"tag={Shorten(t)}: tag filters are key:value (globs * and ? allowed in the value)");
                        if (TooLong("a tag key", t[..colon], out error) || TooLong($"tag={Shorten(t[..colon])}:…", t[(colon + 1)..], out error)) return null;
                        tags.Add((t[..colon], t[(colon + 1)..]));
                    }
                    break;
                case "field":
                    fields ??= [];
                    foreach (var f in values.Select(v => v ?? ""))
                    {
                        if (f.Length == 0) return Fail(out error, "field is empty: give a field key (globs * and ? allowed)");
                        if (TooLong("field", f, out error)) return null;
                        fields.Add(f);
                    }
                    break;
                default:
                    return Fail(out error, $"unknown parameter '{Shorten(name)}': /api/stream takes channel, tier, measurement, tag and field (and token)");
            }
        }
        if (channel is null) return Fail(out error, "channel is missing: points, aggregates or alerts");
        if (channel is not ("points" or "aggregates" or "alerts")) return Fail(out error, $"channel must be points, aggregates or alerts, not '{Shorten(channel)}'");
        if (TierBelongs(channel, tier, "tier=1m", out error) is false) return null;
        if (tier is { Length: 0 or > 64 }) return Fail(out error, $"tier must be a tier's name such as 1m, not '{Shorten(tier)}'");
        if (measurement is not null)
        {
            if (measurement.Length == 0) return Fail(out error, "measurement is empty: give a measurement (globs * and ? allowed) or leave it out");
            if (TooLong("measurement", measurement, out error)) return null;
        }
        return new FeedSubscription
        {
            Id = id,
            Channel = channel,
            Tier = tier,
            Measurement = measurement,
            Tags = tags,
            Fields = fields,
        };
    }

    /// <summary>
    /// Whether a client's pattern is over <see cref="Glob.MaxPatternLength"/>: matching costs grow with it, on
    /// every series, so the feed and the API refuse longer ones.
    /// </summary>
    public static bool TooLong(string what, string pattern, out string? error)
    {
        error = pattern.Length > Glob.MaxPatternLength
            ? $"{what} is {pattern.Length} characters long; patterns are limited to {Glob.MaxPatternLength}"
            : null;
        return error is not null;
    }

    private static FeedSubscription? Fail(out string? error, string message)
    {
        error = message;
        return null;
    }

    /// <summary>A client's value as an error message quotes it: short, with its JSON kind.</summary>
    internal static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"'{Shorten(value.GetString()!)}'",
        JsonValueKind.Number => $"the number {Shorten(value.GetRawText())}",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => value.GetRawText(),
    };

    internal static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    /// <summary>
    /// Whether a series (by its key hash) matched, remembered so that the globs run once per series, not once
    /// per point. Used only on the feed's dispatcher thread; cleared when it grows past 100 000 series.
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

    /// <summary>The same, for tags as the live state keeps them.</summary>
    public bool MatchesSeries(string measurement, IReadOnlyList<KeyValuePair<string, string>> tags)
    {
        if (Measurement is not null && !Glob.IsMatch(Measurement, measurement)) return false;
        foreach (var (key, pattern) in Tags)
        {
            var found = false;
            foreach (var tag in tags)
            {
                if (tag.Key != key) continue;
                found = Glob.IsMatch(pattern, tag.Value);
                break;
            }
            if (!found) return false;
        }
        return true;
    }

    public bool MatchesField(string field) => Fields is null || Fields.Any(p => Glob.IsMatch(p, field));
}
