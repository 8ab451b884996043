using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Ingest.Configuration;
using Ingest.Sources.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Hosting;

namespace Ingest.Sinks.Feed;

/// <summary>
/// <c>GET /api/stream</c>: the live feed as server-sent events, for browsers' <c>EventSource</c> and plain HTTP
/// clients. The query is one subscription (as one <c>subscribe</c> on <c>/ws</c>); the client is a feed client like
/// any other (same queue, conflation, slow-client rule, client limit and token), written as events.
/// </summary>
public static class FeedStreamEndpoint
{
    public static void Map(WebApplication app, FeedOptions options)
    {
        app.MapGet("/api/stream", async (HttpContext context, FeedHub hub, WriteCredentials credentials, IHostApplicationLifetime lifetime) =>
        {
            if (credentials.Check(context, Scopes.Read) is { } refused) return refused;
            if (FeedSubscription.FromQuery(context.Request.Query, 1, out var error) is not { } subscription)
                return Results.Json(new { code = "invalid", message = error }, statusCode: 400);
            if (FeedEndpoint.Admit(context, hub, options) is { } turnedAway) return turnedAway;
            var origin = context.Request.Headers.Origin.ToString();
            var token = Ingest.Api.ScopeFilters.Caller(context);

            var response = context.Response;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache";
            // Proxies that buffer responses (nginx) would hold the events back.
            response.Headers["X-Accel-Buffering"] = "no";
            if (origin.Length > 0)
            {
                // A browser reads a cross-origin stream only when the answer names its origin.
                response.Headers.AccessControlAllowOrigin = origin;
                response.Headers.Vary = "Origin";
            }
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            // The feed's own rule lets go of a client that does not read (Feed:SlowClientTimeout), as on /ws, whose
            // upgraded connections Kestrel never times out: its response data rate must not do it first here.
            if (context.Features.Get<IHttpMinResponseDataRateFeature>() is { } rate) rate.MinDataRate = null;

            // Last-Event-ID: the browser's EventSource sends the last id it saw when it reconnects. The feed keeps no
            // history, so nothing missed can be replayed: the stream starts again with a snapshot (the current state
            // for points and alerts), and the ids go on from the one given so that they keep increasing.
            var resumedAfter = long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last)
                ? last : (long?)null;
            var transport = new EventStreamFeedTransport(context, resumedAfter ?? 0, options.KeepAlive);
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping, context.RequestAborted);
            try
            {
                await transport.StartAsync(resumedAfter, ending.Token);
                await hub.RunAsync(transport, subscription, token, ending.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The client or the daemon went away.
            }
            return Results.Empty;
        });
    }
}

/// <summary>
/// The feed as server-sent events: each message an event named after its <c>type</c>, with an <c>id</c> that
/// increases per connection and its JSON as <c>data</c>; comment lines to keep an idle stream alive.
/// </summary>
internal sealed class EventStreamFeedTransport(HttpContext context, long lastId, TimeSpan keepAlive) : IFeedTransport
{
    /// <summary>How long a browser waits before it reconnects (the <c>retry</c> field), in milliseconds.</summary>
    public const int RetryMilliseconds = 3000;

    private static readonly byte[] KeepAliveLine = ": keep-alive\n\n"u8.ToArray();
    private readonly PipeWriter _body = context.Response.BodyWriter;
    private long _lastId = lastId;

    public string Kind => "sse";
    public TimeSpan? KeepAliveEvery => keepAlive;

    /// <summary>The headers and the reconnection delay, before anything else.</summary>
    public async Task StartAsync(long? resumedAfter, CancellationToken ct)
    {
        var text = $"retry: {RetryMilliseconds}\n" + (resumedAfter is { } after
            ? $": resumed after event {after}: no history is kept, so a new snapshot follows\n\n"
            : ": connected\n\n");
        _body.Write(Encoding.UTF8.GetBytes(text));
        await FlushAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask SendAsync(byte[] message, CancellationToken ct)
    {
        // The feed's JSON is written on one line (a newline inside a string is escaped), so one data line holds it.
        _body.Write(Encoding.UTF8.GetBytes($"id: {++_lastId}\nevent: {FeedJson.TypeOf(message)}\ndata: "));
        _body.Write(message);
        _body.Write("\n\n"u8);
        await FlushAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask KeepAliveAsync(CancellationToken ct)
    {
        _body.Write(KeepAliveLine);
        await FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>A last event, <c>close</c>, with the reason; then the response ends (the browser reconnects).</summary>
    public async Task CloseAsync(string reason)
    {
        var data = FeedJson.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "close");
            w.WriteString("reason", reason);
            w.WriteEndObject();
        });
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            _body.Write("event: close\ndata: "u8);
            _body.Write(data);
            _body.Write("\n\n"u8);
            await FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // It could not be told: the connection is cut instead.
            Abort();
        }
    }

    public void Abort() => context.Abort();

    private async ValueTask FlushAsync(CancellationToken ct)
    {
        var result = await _body.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCanceled) throw new OperationCanceledException("the event stream's write was cancelled");
        if (result.IsCompleted) throw new IOException("the client of the event stream went away");
    }
}
