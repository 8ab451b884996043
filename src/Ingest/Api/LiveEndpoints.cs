using System.Globalization;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Sinks.Feed;
using Ingest.Transforms.Live;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ingest.Api;

/// <summary>
/// <c>GET /api/snapshot</c> (latest values, filtered like the feed: <c>measurement</c>, <c>tag=key:glob</c>,
/// <c>field=glob</c>) and <c>GET /api/series</c> (the series the live state holds), both from the live state.
/// </summary>
public static class LiveEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        // Both list the matching series; the snapshot gives each field's value and time, the series list its keys.
        app.MapGet("/api/snapshot", (HttpRequest request, IngestOptions options) => List(request, options, (s, filter) =>
            s.Fields.Where(f => filter.MatchesField(f.Key)).ToDictionary(f => f.Key, f => (object)new { value = Value(f.Value), time = f.Value.Timestamp })))
            .RequireScope(Scopes.Read);
        app.MapGet("/api/series", (HttpRequest request, IngestOptions options) => List(request, options, (s, _) =>
            s.Fields.Keys.Order(StringComparer.Ordinal).ToArray()))
            .RequireScope(Scopes.Read);
    }

    private static IResult List(HttpRequest request, IngestOptions options, Func<LiveSeries, FeedSubscription, object> fields)
    {
        // Registered as null when the live state is off, which a handler's parameter would refuse.
        if (request.HttpContext.RequestServices.GetService(typeof(LiveStateTransform)) is not LiveStateTransform live) return NotEnabled();
        if (Filter(request, out var error) is not { } filter) return Results.Json(new { code = "invalid", message = error }, statusCode: 400);
        var token = ScopeFilters.Caller(request.HttpContext);
        return Results.Json(Matching(live, filter, token, options.Influx).OrderBy(s => s.Id, StringComparer.Ordinal).Select(s => new
        {
            database = s.Database,
            seriesKey = s.SeriesKey,
            measurement = s.Measurement,
            tags = s.Tags.ToDictionary(t => t.Key, t => t.Value),
            fields = fields(s, filter),
            updatedMs = s.UpdatedMs,
        }).ToArray());
    }

    /// <summary>The live state's series as points, for the feed's snapshot of a points subscription.</summary>
    public static IEnumerable<DecodedPoint> Points(LiveStateTransform live, FeedSubscription filter, ApiToken token, InfluxOptions influx) =>
        Matching(live, filter, token, influx).Select(s =>
        {
            var fields = s.Fields.Where(f => filter.MatchesField(f.Key))
                .Select(f => new DecodedField(f.Key, ToFieldValue(f.Value))).ToList();
            return new DecodedPoint(s.Measurement, s.Tags.Select(t => new DecodedTag(t.Key, t.Value)).ToList(), fields,
                s.Fields.Values.Select(f => f.Timestamp).DefaultIfEmpty(0).Max());
        }).Where(p => p.Fields.Count > 0);

    // Lazily, one series at a time: the feed streams a snapshot in parts from this.
    private static IEnumerable<LiveSeries> Matching(LiveStateTransform live, FeedSubscription filter, ApiToken token, InfluxOptions influx) =>
        live.Published(filter.MatchesSeries)
            .Where(s => token.MayUse(influx.DatabaseOf(s.Database)))
            .Where(s => s.Fields.Keys.Any(filter.MatchesField));

    /// <summary>The query's filters; null with <paramref name="error"/> naming the parameter that is wrong.</summary>
    private static FeedSubscription? Filter(HttpRequest request, out string? error)
    {
        var tags = new List<(string, string)>();
        foreach (var t in request.Query["tag"].Select(x => x ?? ""))
        {
            var colon = t.IndexOf(':');
            if (colon <= 0)
            {
                error = $"tag={FeedSubscription.Shorten(t)}: tag filters are key:value";
                return null;
            }
            if (FeedSubscription.TooLong("tag key", t[..colon], out error) || FeedSubscription.TooLong($"tag={FeedSubscription.Shorten(t[..colon])}:…", t[(colon + 1)..], out error))
                return null;
            tags.Add((t[..colon], t[(colon + 1)..]));
        }
        var fields = request.Query["field"].Where(f => !string.IsNullOrEmpty(f)).Select(f => f!).ToList();
        foreach (var f in fields)
            if (FeedSubscription.TooLong("field", f, out error)) return null;
        var measurement = request.Query["measurement"].ToString() is { Length: > 0 } m ? m : null;
        if (measurement is not null && FeedSubscription.TooLong("measurement", measurement, out error)) return null;
        error = null;
        return new FeedSubscription
        {
            Id = 0,
            Channel = "points",
            Measurement = measurement,
            Tags = tags,
            Fields = fields.Count > 0 ? fields : null,
        };
    }

    private static object Value(LiveField f) => ToFieldValue(f) switch
    {
        { Type: FieldType.Float } v => v.Float,
        { Type: FieldType.Integer } v => v.Integer,
        { Type: FieldType.Unsigned } v => v.Unsigned,
        { Type: FieldType.Boolean } v => v.Boolean,
        var v => v.String ?? "",
    };

    private static FieldValue ToFieldValue(LiveField f) => f.Type switch
    {
        FieldType.Float when double.TryParse(f.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => FieldValue.FromFloat(d),
        FieldType.Integer when long.TryParse(f.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) => FieldValue.FromInteger(i),
        FieldType.Unsigned when ulong.TryParse(f.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var u) => FieldValue.FromUnsigned(u),
        FieldType.Boolean => FieldValue.FromBoolean(f.Value == "true"),
        _ => FieldValue.FromString(f.Value),
    };

    private static IResult NotEnabled() =>
        Results.Json(new { code = "not_enabled", message = "the live state needs Redis (Redis:Configuration) and Live:Enabled=true" }, statusCode: 404);
}
