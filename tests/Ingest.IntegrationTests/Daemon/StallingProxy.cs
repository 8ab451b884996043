using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Ingest.IntegrationTests.Daemon;

/// <summary>
/// Stands between the daemon and a real influxd and never answers the writes <see cref="Stalls"/> picks (a target
/// that hangs, which influxd itself cannot be made to do for one database alone); everything else is passed on.
/// Requests arriving before <see cref="Upstream"/> is set wait for it.
/// </summary>
public sealed class StallingProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _forward = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly TaskCompletionSource<Uri> _upstream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _stalled;

    private StallingProxy(WebApplication app, Func<HttpRequest, bool> stalls)
    {
        _app = app;
        Stalls = stalls;
    }

    /// <summary>Which requests hang until the daemon gives up on them.</summary>
    public Func<HttpRequest, bool> Stalls { get; }

    /// <summary>Requests held so far.</summary>
    public long Stalled => Interlocked.Read(ref _stalled);

    public string Url { get; private init; } = "";

    /// <summary>The influxd the proxy passes requests on to.</summary>
    public Uri Upstream { set => _upstream.TrySetResult(value); }

    public static async Task<StallingProxy> StartAsync(Func<HttpRequest, bool> stalls)
    {
        var port = Servers.FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var proxy = new StallingProxy(app, stalls) { Url = $"http://127.0.0.1:{port}" };
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (Stalls(request))
        {
            Interlocked.Increment(ref _stalled);
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
            return;
        }
        var upstream = await _upstream.Task;
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(upstream, request.Path + request.QueryString));
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            var body = new MemoryStream();
            await request.Body.CopyToAsync(body, context.RequestAborted);
            body.Position = 0;
            message.Content = new StreamContent(body);
            foreach (var h in request.Headers.Where(h => h.Key.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)))
                message.Content.Headers.TryAddWithoutValidation(h.Key, h.Value.ToArray());
        }
        foreach (var h in request.Headers.Where(h => h.Key is "Authorization" or "Accept" or "Accept-Encoding"))
            message.Headers.TryAddWithoutValidation(h.Key, h.Value.ToArray());
        using var answer = await _forward.SendAsync(message, context.RequestAborted);
        context.Response.StatusCode = (int)answer.StatusCode;
        foreach (var h in answer.Content.Headers) context.Response.Headers[h.Key] = h.Value.ToArray();
        context.Response.Headers.Remove("Transfer-Encoding");
        await answer.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        _forward.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
