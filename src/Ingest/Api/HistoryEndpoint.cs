using System.Globalization;
using System.Text;
using System.Text.Json;
using Ingest.Configuration;
using Ingest.Sinks.Influx;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ingest.Api;

/// <summary>
/// <c>GET /api/history</c>: a time range of one measurement's fields, read from InfluxDB: the raw points, or a
/// downsampling tier's windows. Without <c>tier</c>, the tier is chosen from the range: raw points up to
/// <see cref="RawRange"/>, otherwise the finest tier that gives at most <see cref="MaxWindows"/> windows per
/// series, otherwise the coarsest.
/// </summary>
public static class HistoryEndpoint
{
    /// <summary>Longest range answered from raw points when no tier is asked for.</summary>
    public static readonly TimeSpan RawRange = TimeSpan.FromHours(1);

    /// <summary>Windows per series a chosen tier should stay under.</summary>
    public const int MaxWindows = 1000;

    private const int RowLimit = 100_000;

    private static readonly string[] Aggregates = ["mean", "min", "max", "sum", "count", "first", "last", "p50", "p90", "p95", "p99"];

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/api/history", async (HttpRequest request, IngestOptions options, Ingest.Graph.IngestGraph graph, InfluxClient influx, CancellationToken ct) =>
        {
            var q = request.Query;
            var measurement = q["measurement"].ToString();
            var fields = q["field"].Where(f => !string.IsNullOrEmpty(f)).Select(f => f!).ToArray();
            if (measurement.Length == 0 || fields.Length == 0)
                return Problem("measurement and at least one field are required, e.g. ?measurement=cpu&field=usage_user&from=-1h");
            var now = DateTimeOffset.UtcNow;
            if (ParseTime(q["from"].ToString(), now, now.AddHours(-1), out var from) is { } badFrom) return Problem($"from: '{q["from"]}' {badFrom}");
            if (ParseTime(q["to"].ToString(), now, now, out var to) is { } badTo) return Problem($"to: '{q["to"]}' {badTo}");
            if (to <= from) return Problem("to must be after from");
            var aggregate = q["agg"].ToString() is { Length: > 0 } a ? a : "mean";
            if (!Aggregates.Contains(aggregate)) return Problem($"agg: '{aggregate}' is not one of {string.Join(", ", Aggregates)}");

            // The tiers running now, which a reload may have changed since the start.
            var tiers = graph.Downsample?.Engine.Tiers ?? options.Downsample.Tiers;
            DownsampleTierChoice? tier;
            var asked = q["tier"].ToString();
            if (asked == "raw") tier = null;
            else if (asked.Length > 0)
            {
                var named = tiers.FirstOrDefault(t => t.Name == asked);
                if (named is null) return Problem($"tier: no tier named '{asked}' (configured: raw{string.Concat(tiers.Select(t => ", " + t.Name))})");
                tier = new(named.Name, named.Interval, named.RetentionPolicy);
            }
            else tier = Choose(to - from, tiers.Select(t => new DownsampleTierChoice(t.Name, t.Interval, t.RetentionPolicy)).ToList());

            var database = q["db"].ToString() is { Length: > 0 } db ? db : options.Influx.DefaultTarget;
            if (ScopeFilters.Caller(request.HttpContext) is var token && !token.MayUse(options.Influx.DatabaseOf(database)))
                return Results.Json(new { code = "forbidden", message = $"token '{token.Name}' may not read database '{database}'" }, statusCode: 403);
            var retention = tier?.RetentionPolicy is { Length: > 0 } trp ? trp : q["rp"].ToString();
            var sql = new StringBuilder("SELECT ");
            sql.AppendJoin(", ", fields.Select(f => Identifier(tier is null ? f : f + "_" + aggregate)));
            sql.Append(" FROM ");
            if (retention.Length > 0) sql.Append(Identifier(database)).Append('.').Append(Identifier(retention)).Append('.');
            sql.Append(Identifier(tier is null ? measurement : measurement + "_" + tier.Name));
            sql.Append(" WHERE time >= ").Append(Nanoseconds(from)).Append(" AND time < ").Append(Nanoseconds(to));
            foreach (var filter in q["tag"].Select(t => t ?? ""))
            {
                var colon = filter.IndexOf(':');
                if (colon <= 0) return Problem($"tag: '{filter}' is not key:value");
                sql.Append(" AND ").Append(Identifier(filter[..colon])).Append(" = '").Append(filter[(colon + 1)..].Replace("\\", "\\\\").Replace("'", "\\'")).Append('\'');
            }
            sql.Append(" GROUP BY * ORDER BY time ASC LIMIT ").Append(RowLimit);

            var (result, status, error) = await influx.QueryAsync(database, sql.ToString(), ct);
            if (result is null) return Results.Json(new { code = "influxdb_error", message = error, query = sql.ToString() }, statusCode: status >= 500 ? 502 : status);
            using (result)
            {
                var statement = result.RootElement.GetProperty("results")[0];
                if (statement.TryGetProperty("error", out var e))
                    return Results.Json(new { code = "influxdb_error", message = e.GetString(), query = sql.ToString() }, statusCode: 400);
                var series = statement.TryGetProperty("series", out var s)
                    ? s.EnumerateArray().Select(x => new
                    {
                        tags = x.TryGetProperty("tags", out var tags) ? tags.Clone() : default(JsonElement?),
                        columns = x.GetProperty("columns").Clone(),
                        values = x.GetProperty("values").Clone(),
                    }).ToArray()
                    : [];
                return Results.Json(new
                {
                    database,
                    measurement = tier is null ? measurement : measurement + "_" + tier.Name,
                    tier = tier?.Name ?? "raw",
                    intervalSeconds = tier?.Interval.TotalSeconds,
                    from,
                    to,
                    query = sql.ToString(),
                    series,
                });
            }
        }).RequireScope(Scopes.Read);

    /// <summary>The tier for a range when none is asked for; null means raw points.</summary>
    public static DownsampleTierChoice? Choose(TimeSpan range, IReadOnlyList<DownsampleTierChoice> tiers)
    {
        if (range <= RawRange || tiers.Count == 0) return null;
        var byInterval = tiers.OrderBy(t => t.Interval).ToList();
        return byInterval.FirstOrDefault(t => range / t.Interval <= MaxWindows) ?? byInterval[^1];
    }

    private static IResult Problem(string message) => Results.Json(new { code = "invalid", message }, statusCode: 400);

    private static string Identifier(string name) => "\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    // Times come from ParseTime, inside InfluxDB's range, so the product cannot overflow.
    private static long Nanoseconds(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks * TimeSpan.NanosecondsPerTick;

    // InfluxDB stores times from math.MinInt64 + 2 to math.MaxInt64 - 1 ns; this daemon counts in 100 ns ticks.
    // Integer division truncates towards zero, so both bounds stay inside the range.
    private const long MinNanoseconds = long.MinValue + 2, MaxNanoseconds = long.MaxValue - 1;
    private static readonly DateTimeOffset Earliest = DateTimeOffset.UnixEpoch.AddTicks(MinNanoseconds / TimeSpan.NanosecondsPerTick);
    private static readonly DateTimeOffset Latest = DateTimeOffset.UnixEpoch.AddTicks(MaxNanoseconds / TimeSpan.NanosecondsPerTick);
    private const string NotATime = "is not a time (RFC 3339, unix seconds, or -15m/-2h/-7d)";
    private const string OutOfRange = "is outside the times InfluxDB stores (1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z)";

    /// <summary>RFC 3339, unix seconds, or a negative offset from now (<c>-15m</c>, <c>-2h</c>, <c>-7d</c>); empty gives the default.</summary>
    public static bool TryTime(string text, DateTimeOffset now, DateTimeOffset fallback, out DateTimeOffset time) =>
        ParseTime(text, now, fallback, out time) is null;

    /// <summary>As <see cref="TryTime"/>; null for a time InfluxDB can store, otherwise what is wrong with <paramref name="text"/>.</summary>
    public static string? ParseTime(string text, DateTimeOffset now, DateTimeOffset fallback, out DateTimeOffset time)
    {
        time = fallback;
        if (text.Length == 0) return null;
        TimeSpan? unit = text[^1] switch { 's' => TimeSpan.FromSeconds(1), 'm' => TimeSpan.FromMinutes(1), 'h' => TimeSpan.FromHours(1), 'd' => TimeSpan.FromDays(1), _ => null };
        if (text[0] == '-' && text.Length > 2 && unit is not null)
        {
            if (!double.TryParse(text.AsSpan(1, text.Length - 2), NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var n) || !double.IsFinite(n))
                return NotATime;
            // In doubles first: -1e300d must be refused, not overflow.
            var ticks = n * unit.Value.Ticks;
            if (!(ticks <= (now - Earliest).Ticks)) return OutOfRange;
            time = now - TimeSpan.FromTicks((long)ticks);
            return null;
        }
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds))
        {
            if (seconds < MinNanoseconds / 1_000_000_000 || seconds > MaxNanoseconds / 1_000_000_000) return OutOfRange;
            time = DateTimeOffset.FromUnixTimeSeconds(seconds);
            return null;
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) return NotATime;
        if (parsed < Earliest || parsed > Latest) return OutOfRange;
        time = parsed;
        return null;
    }
}

/// <summary>A downsampling tier as <c>/api/history</c> sees it.</summary>
public sealed record DownsampleTierChoice(string Name, TimeSpan Interval, string? RetentionPolicy);
