using System.Security.Cryptography;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace Ingest.Hosting;

/// <summary>
/// The status page at <c>/</c>: the files of <c>wwwroot</c> next to Ingest.dll, built ahead from
/// <c>clients/status-page</c>. They are served without credentials (they hold no data); every call the page makes
/// to the API or the feed carries the token its user enters. Only paths that no endpoint takes reach the files, so
/// no existing endpoint changes.
/// </summary>
public static class StatusPage
{
    /// <summary>Where the built page lies: next to the assembly, as the build and publish copy it.</summary>
    public static string Root => Path.Combine(AppContext.BaseDirectory, "wwwroot");

    public static void Use(WebApplication app)
    {
        if (!File.Exists(Path.Combine(Root, "index.html")))
        {
            app.Logger.LogWarning("No status page at {Root}: / answers 404", Root);
            return;
        }
        var files = new PhysicalFileProvider(Root);
        // index.html names its script and style sheet as app.js?v=<first 16 hex digits of the SHA-256 of the file>:
        // such a request may be cached for good, since another content has another name.
        var versions = Directory.EnumerateFiles(Root)
            .Where(f => !f.EndsWith(".html", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(f => "/" + Path.GetFileName(f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))[..16], StringComparer.Ordinal);

        var defaults = new DefaultFilesOptions { FileProvider = files };
        defaults.DefaultFileNames.Clear();
        defaults.DefaultFileNames.Add("index.html");
        app.UseDefaultFiles(defaults);
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            ContentTypeProvider = new FileExtensionContentTypeProvider(),
            ServeUnknownFileTypes = false,
            OnPrepareResponse = context =>
            {
                var request = context.Context.Request;
                var headers = context.Context.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                if (context.File.Name.EndsWith(".html", StringComparison.OrdinalIgnoreCase))
                {
                    // Checked again at every load (a 304 while unchanged), so a new daemon's page shows at once.
                    headers.CacheControl = "no-cache";
                    headers.ContentSecurityPolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
                    headers["Referrer-Policy"] = "no-referrer";
                }
                else
                {
                    headers.CacheControl = versions.TryGetValue(request.Path.Value ?? "", out var v) && request.Query["v"] == v
                        ? "public, max-age=31536000, immutable"
                        : "no-cache";
                }
            },
        });
    }
}
