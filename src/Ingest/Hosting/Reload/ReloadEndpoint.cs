using Ingest.Api;
using Ingest.Configuration;

namespace Ingest.Hosting.Reload;

/// <summary>
/// <c>POST /api/config/reload</c> (admin scope): reloads the configuration as SIGHUP does and answers with the report:
/// 200 when applied (with the keys that wait for a restart, if any), 400 when the configuration was refused (the
/// error names the key and value; the running configuration stays). <c>GET /api/config/reload</c> (read scope) shows
/// the last reload.
/// </summary>
public static class ReloadEndpoint
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/config/reload", async (HttpContext context, CancellationToken ct) =>
        {
            if (context.RequestServices.GetService<ConfigReloader>() is not { } reloader)
                return Results.Json(new { code = "not_supported", message = "this host was built without its configuration layers and cannot reload" }, statusCode: 501);
            var report = await reloader.ReloadAsync("api", ct);
            return Results.Json(report.Describe(), statusCode: report.Succeeded ? 200 : 400);
        }).RequireScope(Scopes.Admin);
        app.MapGet("/api/config/reload", (HttpContext context) =>
            context.RequestServices.GetService<ConfigReloader>() is { } reloader
                ? Results.Json(Describe(reloader))
                : Results.Json(new { code = "not_supported", message = "this host was built without its configuration layers and cannot reload" }, statusCode: 501))
            .RequireScope(Scopes.Read);
    }

    /// <summary>The configuration's state as <c>/api/status</c> shows it under <c>config</c>.</summary>
    public static object Describe(ConfigReloader reloader) => new
    {
        file = reloader.File,
        loadedAt = reloader.LoadedAt,
        reloads = new { success = reloader.Counts.Succeeded, failure = reloader.Counts.Failed },
        lastReload = reloader.Last?.Describe(),
    };
}
