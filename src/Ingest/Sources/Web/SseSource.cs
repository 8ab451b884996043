using System.Net;
using System.Net.Http.Headers;
using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using Ingest.Configuration;

namespace Ingest.Sources.Web;

/// <summary>The keys of an <c>sse</c> source.</summary>
internal sealed record SseSettings(
    Uri Url,
    IReadOnlyDictionary<string, string> Headers,
    string? Authorization,
    IReadOnlySet<string> Events,
    TimeSpan ConnectTimeout,
    TimeSpan? IdleTimeout,
    TimeSpan MaxReconnectDelay)
{
    public static SseSettings Read(SectionReader r)
    {
        var url = WebSettings.Url(r, "http", "https");
        var headers = WebSettings.Headers(r);
        var authorization = WebSettings.Authorization(r, basic: false);
        var events = r.List("Events") ?? ["message"];
        for (var i = 0; i < events.Count; i++)
            if (events[i].Length == 0 || events[i].Any(c => c is '\r' or '\n'))
                throw new ConfigurationError($"{r.Name}:Events:{i}", events[i], "an event name is one line of text, not empty");
        var connect = r.Duration("ConnectTimeout", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        var idle = r.Duration("IdleTimeout", TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromDays(1));
        return new SseSettings(url, headers, authorization, events.ToHashSet(StringComparer.Ordinal), connect,
            idle > TimeSpan.Zero ? idle : null, WebSettings.MaxReconnectDelay(r));
    }
}

/// <summary>
/// An <c>sse</c> source: a <c>text/event-stream</c> request kept open on <c>Url</c>; the <c>data</c> of each
/// event whose type is in <c>Events</c> is one <see cref="SourceMessage"/>. On reconnect it sends the id of the
/// last event it read as <c>Last-Event-ID</c>, and waits first as long as the server's <c>retry</c> asked (at most
/// <c>MaxReconnectDelay</c>). At most once: an event the server does not replay after a loss is not seen.
/// </summary>
internal sealed class SseConnector(SseSettings settings) : ISourceConnector
{
    public static SourceType Type { get; } = new("sse", SourceDelivery.AtMostOnce, SseSettings.Read,
        (options, _) => new SseConnector(options.SettingsAs<SseSettings>()));

    public SourceDelivery Delivery => SourceDelivery.AtMostOnce;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        ConnectorLoop.Run(context, (writer, stopping) => RunAsync(context, writer, stopping));

    private async Task RunAsync(SourceContext context, ChannelWriter<SourceMessage> writer, CancellationToken stopping)
    {
        var telemetry = context.Telemetry;
        var subject = WebSettings.Shown(settings.Url);
        var backoff = new ReconnectBackoff(settings.MaxReconnectDelay);
        var parser = new SseParser();
        var connectedBefore = false;
        var pending = new List<SseEvent>();
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = settings.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.All,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        var buffer = new byte[16 * 1024];

        while (!stopping.IsCancellationRequested)
        {
            string lost;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, settings.Url);
                WebSettings.Apply(request.Headers, settings.Headers, settings.Authorization);
                request.Headers.Accept.Clear();
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                request.Headers.CacheControl = new CacheControlHeaderValue { NoCache = true };
                if (parser.LastEventId.Length > 0) request.Headers.TryAddWithoutValidation("Last-Event-ID", parser.LastEventId);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stopping).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    throw new SseRefused($"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
                if (response.Content.Headers.ContentType?.MediaType is not "text/event-stream")
                    throw new SseRefused($"the server answered {response.Content.Headers.ContentType?.MediaType ?? "no content type"}, not text/event-stream");

                backoff.Reset();
                if (connectedBefore) telemetry.Reconnected();
                connectedBefore = true;
                telemetry.SetState(SourceState.Connected);
                parser.Restart();

                await using var body = await response.Content.ReadAsStreamAsync(stopping).ConfigureAwait(false);
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                while (true)
                {
                    if (settings.IdleTimeout is { } timeout) idle.CancelAfter(timeout);
                    int read;
                    try
                    {
                        read = await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                    {
                        throw new SseRefused($"nothing received within IdleTimeout ({settings.IdleTimeout})");
                    }
                    if (read == 0) break;
                    parser.Feed(buffer.AsSpan(0, read), pending.Add);
                    foreach (var ev in pending)
                    {
                        if (!settings.Events.Contains(ev.Type)) continue;
                        await writer.WriteAsync(new SourceMessage(ev.Data, SourceMessage.Now(), subject), stopping).ConfigureAwait(false);
                    }
                    pending.Clear();
                }
                lost = "the server ended the stream";
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SseRefused e)
            {
                lost = e.Message;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                lost = e.GetBaseException().Message;
            }
            telemetry.SetState(SourceState.BackingOff, lost);
            await Task.Delay(backoff.Next(parser.Retry), stopping).ConfigureAwait(false);
            telemetry.SetState(SourceState.Connecting);
        }
    }

    private sealed class SseRefused(string message) : Exception(message);
}
