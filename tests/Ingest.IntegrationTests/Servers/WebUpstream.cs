using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// The systems a websocket, sse or http source reads from, hosted in the test process with Kestrel on 127.0.0.1:
/// WebSocket endpoints at <c>/ws/{name}</c>, event streams at <c>/sse/{name}</c>, polled resources at
/// <c>/poll/{name}</c>. It can be stopped (open connections aborted) and started again on the same port; what the
/// endpoints saw outlives a restart.
/// </summary>
public sealed class WebUpstream : IAsyncDisposable
{
    private WebApplication? _app;
    private CancellationTokenSource _running = new();

    public int Port { get; private set; }
    public string HttpUrl => $"http://127.0.0.1:{Port}";
    public string WsUrl => $"ws://127.0.0.1:{Port}";

    public ConcurrentDictionary<string, WsEndpoint> Sockets { get; } = new();
    public ConcurrentDictionary<string, SseEndpoint> Streams { get; } = new();
    public ConcurrentDictionary<string, PollEndpoint> Polls { get; } = new();

    public WsEndpoint Socket(string name) => Sockets.GetOrAdd(name, _ => new WsEndpoint());
    public SseEndpoint Stream(string name) => Streams.GetOrAdd(name, _ => new SseEndpoint());
    public PollEndpoint Poll(string name) => Polls.GetOrAdd(name, _ => new PollEndpoint());

    public static async Task<WebUpstream> StartAsync()
    {
        var upstream = new WebUpstream();
        await upstream.StartAgainAsync();
        return upstream;
    }

    /// <summary>Listens again, on the port of the first start (a free one then).</summary>
    public async Task StartAgainAsync()
    {
        _running = new CancellationTokenSource();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, Port));
        var app = builder.Build();
        app.UseWebSockets();
        var running = _running.Token;
        app.Run(c => c.Request.Path.Value?.Split('/') switch
        {
            ["", "ws", var name] => Socket(name).HandleAsync(c, running),
            ["", "sse", var name] => Stream(name).HandleAsync(c, running),
            ["", "poll", var name] => Poll(name).HandleAsync(c),
            _ => NotFound(c),
        });
        await app.StartAsync();
        _app = app;
        if (Port == 0)
        {
            var address = app.Urls.First();
            Port = new Uri(address).Port;
        }
    }

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = 404;
        return Task.CompletedTask;
    }

    /// <summary>Stops listening and drops every open connection, as a server that goes away does.</summary>
    public async Task StopAsync()
    {
        if (_app is null) return;
        _running.Cancel();
        using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(quick.Token);
        await _app.DisposeAsync();
        _app = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

/// <summary>A WebSocket endpoint: counts connections, keeps the text each client sent, pushes to every client.</summary>
public sealed class WsEndpoint
{
    private readonly ConcurrentDictionary<WebSocket, SemaphoreSlim> _open = new();
    private int _connections;

    public int Connections => Volatile.Read(ref _connections);
    public int Open => _open.Count;

    /// <summary>What clients sent, with the number of the connection (1 for the first) it came on.</summary>
    public ConcurrentQueue<(int Connection, string Text)> Received { get; } = new();

    /// <summary>The request headers of the last connection.</summary>
    public IHeaderDictionary? LastHeaders { get; private set; }

    /// <summary>When the last connection was accepted.</summary>
    public DateTime LastConnectedAt { get; private set; }

    /// <summary>Called on each new connection before any message is pushed; may push on its own (a load generator).</summary>
    public Func<WebSocket, CancellationToken, Task>? OnConnected { get; set; }

    /// <summary>Each connection is closed (a normal close handshake) as soon as it is accepted.</summary>
    public bool CloseAtOnce { get; set; }

    /// <summary>
    /// Connections are accepted and then never read, so a client's pings are never answered (the server side
    /// answers a ping only while it reads).
    /// </summary>
    public bool Deaf { get; set; }

    public async Task HandleAsync(HttpContext context, CancellationToken serverStopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        LastHeaders = context.Request.Headers;
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var number = Interlocked.Increment(ref _connections);
        LastConnectedAt = DateTime.UtcNow;
        _open[socket] = new SemaphoreSlim(1, 1);
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(serverStopping, context.RequestAborted);
        if (CloseAtOnce || Deaf)
        {
            try
            {
                if (CloseAtOnce) await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "go away", gone.Token);
                else await Task.Delay(Timeout.Infinite, gone.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
            finally
            {
                _open.TryRemove(socket, out _);
                socket.Abort();
            }
            return;
        }
        Task? pushing = OnConnected?.Invoke(socket, gone.Token);
        try
        {
            var buffer = new byte[64 * 1024];
            while (!gone.IsCancellationRequested)
            {
                var text = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer, gone.Token);
                    text.Write(buffer, 0, result.Count);
                } while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close) break;
                Received.Enqueue((number, Encoding.UTF8.GetString(text.ToArray())));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            _open.TryRemove(socket, out _);
            if (serverStopping.IsCancellationRequested) socket.Abort();
        }
        if (pushing is not null)
        {
            try
            {
                await pushing;
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        }
    }

    /// <summary>Sends <paramref name="text"/> as one text message to every open connection.</summary>
    public async Task SendAsync(string text, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        foreach (var (socket, gate) in _open)
        {
            await gate.WaitAsync();
            try
            {
                await socket.SendAsync(bytes, type, true, CancellationToken.None);
            }
            finally
            {
                gate.Release();
            }
        }
    }
}

/// <summary>
/// A text/event-stream endpoint: keeps the Last-Event-ID header of each connection and writes raw event-stream
/// text to every open one.
/// </summary>
public sealed class SseEndpoint
{
    private readonly ConcurrentDictionary<HttpResponse, SemaphoreSlim> _open = new();
    private CancellationTokenSource _ended = new();

    public int Open => _open.Count;

    /// <summary>Ends every open stream (the responses complete), as a server that closes its streams does.</summary>
    public void EndAll()
    {
        var ended = Interlocked.Exchange(ref _ended, new CancellationTokenSource());
        ended.Cancel();
    }

    /// <summary>The Last-Event-ID header of each connection, in order ("" when it had none).</summary>
    public ConcurrentQueue<string> LastEventIds { get; } = new();

    public IHeaderDictionary? LastHeaders { get; private set; }

    /// <summary>Event-stream text written to each connection as soon as it is open (then nothing, unless sent).</summary>
    public string? Greeting { get; set; }

    public async Task HandleAsync(HttpContext context, CancellationToken serverStopping)
    {
        LastHeaders = context.Request.Headers;
        LastEventIds.Enqueue(context.Request.Headers["Last-Event-ID"].ToString());
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        if (Greeting is { } greeting) await context.Response.WriteAsync(greeting);
        await context.Response.Body.FlushAsync();
        var gate = new SemaphoreSlim(1, 1);
        _open[context.Response] = gate;
        try
        {
            using var gone = CancellationTokenSource.CreateLinkedTokenSource(serverStopping, context.RequestAborted, _ended.Token);
            await Task.Delay(Timeout.Infinite, gone.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _open.TryRemove(context.Response, out _);
            if (serverStopping.IsCancellationRequested) context.Abort();
        }
    }

    /// <summary>Writes <paramref name="raw"/> (event-stream text, lines and blank lines as given) to every open stream.</summary>
    public async Task SendAsync(string raw)
    {
        var bytes = Encoding.UTF8.GetBytes(raw);
        foreach (var (response, gate) in _open)
        {
            await gate.WaitAsync();
            try
            {
                await response.Body.WriteAsync(bytes);
                await response.Body.FlushAsync();
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
            finally
            {
                gate.Release();
            }
        }
    }
}

/// <summary>
/// A polled resource: answers its current body with an ETag (the body's version) and Last-Modified, 304 to a
/// request whose If-None-Match or If-Modified-Since shows it unchanged, and a 500 while <see cref="FailNext"/> is
/// above zero.
/// </summary>
public sealed class PollEndpoint
{
    private readonly object _gate = new();
    private string _body = "";
    private int _version;
    private DateTimeOffset _modified = DateTimeOffset.UnixEpoch;
    private int _failNext;

    public int Requests;
    public int NotModified;
    public int Failed;

    /// <summary>Whether answers carry an ETag (else only Last-Modified).</summary>
    public bool WithETag { get; set; } = true;

    public ConcurrentQueue<(string Method, string Body, string? Authorization, string? ContentType)> Seen { get; } = new();

    public void Set(string body)
    {
        lock (_gate)
        {
            _body = body;
            _version++;
            // Last-Modified has whole seconds: each change must be a later second than the last.
            var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            _modified = now > _modified ? now : _modified.AddSeconds(1);
        }
    }

    public void FailNext(int polls) => Interlocked.Exchange(ref _failNext, polls);

    public async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref Requests);
        var request = context.Request;
        using (var reader = new StreamReader(request.Body))
            Seen.Enqueue((request.Method, await reader.ReadToEndAsync(), request.Headers.Authorization.ToString(), request.ContentType));
        if (Interlocked.Decrement(ref _failNext) >= 0)
        {
            Interlocked.Increment(ref Failed);
            context.Response.StatusCode = 500;
            await context.Response.WriteAsync("upstream broken");
            return;
        }
        Interlocked.Exchange(ref _failNext, 0);
        string body;
        int version;
        DateTimeOffset modified;
        lock (_gate)
        {
            body = _body;
            version = _version;
            modified = _modified;
        }
        var etag = $"\"v{version}\"";
        var unchanged = WithETag
            ? request.Headers.IfNoneMatch.ToString() == etag
            : DateTimeOffset.TryParse(request.Headers.IfModifiedSince.ToString(), out var since) && since >= modified;
        if (WithETag) context.Response.Headers.ETag = etag;
        else context.Response.Headers.LastModified = modified.ToString("R");
        if (unchanged)
        {
            Interlocked.Increment(ref NotModified);
            context.Response.StatusCode = 304;
            return;
        }
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync(body);
    }
}
