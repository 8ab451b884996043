using Ingest.Configuration;
using Ingest.Sources.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Ingest.Sinks.Feed;

/// <summary><c>/ws</c>: the live feed over WebSocket (read scope; the token may come as <c>?token=</c>).</summary>
public static class FeedEndpoint
{
    public static void Map(WebApplication app, FeedOptions options)
    {
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = options.KeepAlive });
        app.Map("/ws", async (HttpContext context, FeedHub hub, WriteCredentials credentials, IHostApplicationLifetime lifetime) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
                return Results.Json(new { code = "invalid", message = "/ws is a WebSocket endpoint: connect with a WebSocket client" }, statusCode: 400);
            if (credentials.Check(context, Scopes.Read) is { } refused) return refused;
            if (Admit(context, hub, options) is { } turnedAway) return turnedAway;
            var token = Ingest.Api.ScopeFilters.Caller(context);
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await hub.RunAsync(socket, token, lifetime.ApplicationStopping);
            return Results.Empty;
        });
    }

    /// <summary>
    /// What both the WebSocket and the event stream check before taking a client, once its token has passed: a
    /// browser's origin (403 unless allowed), and room for one more client (503 at <c>Feed:MaxClients</c>). Null:
    /// the client may connect.
    /// </summary>
    internal static IResult? Admit(HttpContext context, FeedHub hub, FeedOptions options)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !SameOrigin(context.Request, origin) && !options.AllowedOrigins.Contains("*") && !options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase))
            return Results.Json(new { code = "forbidden", message = $"origin '{origin}' is not in Feed:AllowedOrigins" }, statusCode: 403);
        if (hub.Count >= options.MaxClients)
        {
            context.Response.Headers.RetryAfter = "5";
            return Results.Json(new { code = "unavailable", message = $"the feed has its maximum of {options.MaxClients} clients" }, statusCode: 503);
        }
        return null;
    }

    /// <summary>
    /// A page the daemon served itself (the status page at <c>/</c>) connects from the daemon's own origin, which
    /// needs no entry in <c>Feed:AllowedOrigins</c>; the token it sends is checked as any other.
    /// </summary>
    private static bool SameOrigin(HttpRequest request, string origin)
    {
        var scheme = request.IsHttps ? "https" : "http";
        return string.Equals(origin, $"{scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
    }
}
