using System.Diagnostics;
using Ingest.Configuration;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.Health;
using Ingest.Sinks.Feed;
using Ingest.Sources.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ingest.Api;

/// <summary>Scope checks for the API's endpoints.</summary>
public static class ScopeFilters
{
    /// <summary>The token <see cref="RequireScope"/> admitted the request with (<see cref="ApiToken.Anonymous"/> while auth is off).</summary>
    public static ApiToken Caller(HttpContext context) => context.Items[WriteCredentials.TokenItem] as ApiToken
        ?? throw new InvalidOperationException("an endpoint that reads the caller's token must require a scope");

    /// <summary>Answers 401 without a valid token and 403 without <paramref name="scope"/>; see <see cref="WriteCredentials.Check"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, Scopes scope) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<WriteCredentials>().Check(context.HttpContext, scope) ?? await next(context));
}

/// <summary>The admin API of the running graph: status, flush, pause/resume, alerts and acknowledgements.</summary>
public static class PipelineEndpoints
{
    private static ApiToken Caller(HttpContext context) => ScopeFilters.Caller(context);

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/status", (HttpContext context, IngestGraph graph, ReadinessState readiness, RateSampler rates, FeedHub feed, Ingest.Sources.SourceInstruments sourceStats) =>
        {
            var reloader = context.RequestServices.GetService<Ingest.Hosting.Reload.ConfigReloader>();
            var process = Process.GetCurrentProcess();
            return Results.Json(new
            {
                status = readiness.Status,
                paused = graph.Paused,
                stages = graph.Telemetry.Stages.Select(s => new
                {
                    name = s.Name,
                    kind = s.Kind,
                    received = s.Received,
                    sent = s.Sent,
                    receivedPerSecond = rates.Rate(s.Name),
                    dropped = s.Dropped,
                    deadLettered = s.DeadLettered,
                    errors = s.Errors,
                    queue = s.QueueDepth is null ? null : new { points = s.QueueDepth(), capacity = s.QueueCapacity },
                }),
                sinks = graph.Sinks.Select(s => new { name = s.Name, pendingPoints = s.Sink.Pending, targets = s.Sink.Targets }),
                deadLetter = graph.DeadLetters is { Enabled: true } dl ? new
                {
                    directory = dl.Directory,
                    files = dl.Files,
                    bytes = dl.Bytes,
                    pointsSinceStart = dl.Points,
                } : null,
                downsample = graph.Downsample?.Engine.GetStats(),
                thresholds = graph.Thresholds is { } t ? new { rules = t.Engine.Rules.Count, counters = t.Engine.Counters, active = graph.Alerts!.RunExclusive(() => t.Engine.ActiveCount) } : null,
                wal = graph.Log.Enabled ? new
                {
                    sizeBytes = graph.Log.SizeBytes,
                    segments = graph.Log.SegmentCount,
                    pending = new { influx = graph.Log.Ledger.Pending(LedgerConsumer.Raw), transforms = graph.Log.Ledger.Pending(LedgerConsumer.Transforms), derived = graph.Log.Ledger.Pending(LedgerConsumer.Derived), alerts = graph.Log.Ledger.Pending(LedgerConsumer.Check), alertEvents = graph.Log.Ledger.Pending(LedgerConsumer.AlertEvents) },
                    checkpoints = new { influx = graph.Log.Ledger.Checkpoint(LedgerConsumer.Raw) },
                    oldestUndeliveredSeconds = new { influx = graph.Log.OldestUndeliveredSeconds(Ingest.Durability.DurableLog.RawConsumer), transforms = graph.Log.OldestUndeliveredSeconds(Ingest.Durability.DurableLog.TransformsConsumer), alerts = graph.Log.OldestUndeliveredSeconds(Ingest.Durability.DurableLog.AlertsConsumer) },
                    windowSnapshot = graph.WindowCheckpoints?.Last is { } snap ? new
                    {
                        coveredSequence = snap.Covered,
                        sizeBytes = snap.Bytes,
                        savedAt = snap.SavedAt,
                        windows = snap.Windows,
                        writeSeconds = snap.Seconds,
                        longestPauseSeconds = snap.LongestPauseSeconds,
                    } : null,
                    replayed = graph.Log.Replayed,
                    dropped = graph.Log.Dropped,
                    recovery = graph.Log.Recovery is { } r ? new
                    {
                        truncatedRecords = r.TruncatedRecords,
                        truncatedBytes = r.TruncatedBytes,
                        skippedRecords = r.SkippedRecords,
                        lostRecords = r.SkippedUnconsumedRecords,
                        skippedBytes = r.SkippedBytes,
                        damaged = r.Damage.Select(d => new { segment = d.Segment, offset = d.Offset, length = d.Length, firstSequence = d.FirstSequence, lastSequence = d.LastSequence, lostRecords = d.UnconsumedRecords, keptAs = d.KeptAs }),
                        segmentsSetAside = r.SegmentsSetAside,
                        emptySegmentsRemoved = r.EmptySegmentsRemoved,
                    } : null,
                } : null,
                feed = new { clients = feed.Count, clientsByTransport = feed.CountByKind(), subscriptions = feed.Subscriptions, queuedBytes = feed.QueuedBytes, queuedPoints = feed.QueuedPoints },
                memory = new { managedBytes = GC.GetTotalMemory(false), workingSetBytes = process.WorkingSet64 },
                sources = sourceStats.Describe(),
                config = reloader is null ? null : Ingest.Hosting.Reload.ReloadEndpoint.Describe(reloader),
                dependencies = readiness.All.ToDictionary(d => d.Name, d => new { status = d.State.Status, error = d.State.Error }),
            });
        }).RequireScope(Scopes.Read);

        app.MapPost("/api/pipeline/flush", async (IngestGraph graph, CancellationToken ct) =>
        {
            var (done, points) = await graph.FlushAsync(TimeSpan.FromSeconds(5), ct);
            return done
                ? Results.Json(new { flushed = true, points })
                : Results.Json(new { flushed = false, scheduled = true, message = "points acknowledged before the flush are still queued behind a full stage; the flush runs when they have been taken" }, statusCode: 202);
        }).RequireScope(Scopes.Admin);
        app.MapPost("/api/pipeline/pause", async (IngestGraph graph) =>
        {
            await graph.PauseAsync();
            return Results.Json(new { paused = true });
        }).RequireScope(Scopes.Admin);
        app.MapPost("/api/pipeline/resume", async (IngestGraph graph) =>
        {
            await graph.ResumeAsync();
            return Results.Json(new { paused = false });
        }).RequireScope(Scopes.Admin);

        // Written by the feed's own writer, so that an alert has one shape here and in the feed's alerts snapshot.
        app.MapGet("/api/alerts", (HttpContext context, IngestGraph graph, IngestOptions options) =>
        {
            var caller = Caller(context);
            var active = graph.Alerts?.RunExclusive(() => graph.Alerts.Check.Engine.ActiveAlerts) ?? [];
            return Results.Bytes(FeedJson.Json(w =>
            {
                w.WriteStartArray();
                foreach (var a in active)
                    if (caller.MayUse(options.Influx.DatabaseOf(a.Database))) FeedJson.WriteActive(w, a);
                w.WriteEndArray();
            }), "application/json; charset=utf-8");
        }).RequireScope(Scopes.Read);

        app.MapPost("/api/alerts/{id}/ack", (string id, HttpRequest request, IngestGraph graph, IngestOptions options) =>
        {
            if (graph.Thresholds is not { } t) return Results.NotFound(new { error = "no threshold rules are configured" });
            // Who acknowledged: the caller's token, and with auth off whoever the request says (or "anonymous").
            var token = Caller(request.HttpContext);
            var by = token != ApiToken.Anonymous ? token.Name
                : request.Query["by"].ToString() is { Length: > 0 } who ? who : "anonymous";
            var at = DateTimeOffset.UtcNow;
            // An alert of a database the token may not use is answered as if it did not exist.
            return graph.Alerts!.RunExclusive(() =>
                    (token.Databases is null || t.Engine.ActiveAlerts.Any(a => a.Id == id && token.MayUse(options.Influx.DatabaseOf(a.Database))))
                    && t.Engine.Acknowledge(id, by, at))
                ? Results.Json(new { id, acknowledgedBy = by, acknowledgedAt = at })
                : Results.NotFound(new { error = $"no active alert with id {id}" });
        }).RequireScope(Scopes.Admin);
    }
}
