using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using Ingest.Configuration;
using Ingest.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Ingest.Sources.Web;

/// <summary>The keys of an <c>http</c> (polled) source.</summary>
internal sealed record HttpPollSettings(
    Uri Url,
    HttpMethod Method,
    string? Body,
    IReadOnlyDictionary<string, string> Headers,
    string? Authorization,
    TimeSpan Interval,
    TimeSpan Timeout,
    long MaxResponseBytes)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    public const long DefaultMaxResponseBytes = 64L << 20;

    private static readonly Dictionary<string, HttpMethod> Methods = new()
    {
        ["GET"] = HttpMethod.Get,
        ["POST"] = HttpMethod.Post,
    };

    public static HttpPollSettings Read(SectionReader r)
    {
        var url = WebSettings.Url(r, "http", "https");
        var method = r.Choice("Method", HttpMethod.Get, Methods);
        var body = r.Child("Body").Value;
        if (body is not null && method != HttpMethod.Post)
            throw new ConfigurationError(r.Name + ":Body", body, "a Body is sent with Method POST only");
        var headers = WebSettings.Headers(r);
        var authorization = WebSettings.Authorization(r, basic: true);
        var interval = r.Duration("Interval", DefaultInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1));
        var timeout = r.Duration("Timeout", DefaultTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10));
        var max = r.Long("MaxResponseBytes", DefaultMaxResponseBytes, 1, int.MaxValue);
        return new HttpPollSettings(url, method, body, headers, authorization, interval, timeout, max);
    }
}

/// <summary>
/// An <c>http</c> source: polls <c>Url</c> every <c>Interval</c> (measured from the start of one poll to the start
/// of the next); the body of each 2xx answer is one <see cref="SourceMessage"/>. It sends the last answer's
/// <c>ETag</c> as <c>If-None-Match</c> and its <c>Last-Modified</c> as <c>If-Modified-Since</c>, so an unchanged
/// resource (304) gives no message. A failed poll (non-2xx, timeout, no connection) is counted in
/// <c>ingest_source_poll_errors_total</c>, puts the source in <c>backing_off</c>, and the next poll comes at its
/// usual time.
/// </summary>
internal sealed class HttpPollConnector(HttpPollSettings settings, PollErrors errors) : ISourceConnector
{
    public static SourceType Type { get; } = new("http", SourceDelivery.Polled, HttpPollSettings.Read,
        (options, services) => new HttpPollConnector(options.SettingsAs<HttpPollSettings>(), PollErrors.For(services.GetRequiredService<IngestMeter>())));

    public SourceDelivery Delivery => SourceDelivery.Polled;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        ConnectorLoop.Run(context, (writer, stopping) => RunAsync(context, writer, stopping));

    private async Task RunAsync(SourceContext context, ChannelWriter<SourceMessage> writer, CancellationToken stopping)
    {
        var telemetry = context.Telemetry;
        var subject = WebSettings.Shown(settings.Url);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = settings.Timeout,
            AutomaticDecompression = DecompressionMethods.All,
        })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = settings.MaxResponseBytes,
        };
        string? etag = null;
        DateTimeOffset? lastModified = null;
        var failedBefore = false;
        var next = DateTime.UtcNow;

        while (!stopping.IsCancellationRequested)
        {
            var wait = next - DateTime.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, stopping).ConfigureAwait(false);
            // A poll slower than the interval is followed by the next at once, not by a burst of missed ones.
            next = DateTime.UtcNow > next + settings.Interval ? DateTime.UtcNow : next + settings.Interval;

            string? failure = null, reason = null;
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                attempt.CancelAfter(settings.Timeout);
                using var request = Request(etag, lastModified);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, attempt.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotModified)
                {
                    // Unchanged since the last answer: nothing new to take.
                }
                else if (response.IsSuccessStatusCode)
                {
                    var body = await response.Content.ReadAsByteArrayAsync(attempt.Token).ConfigureAwait(false);
                    etag = response.Headers.ETag?.ToString() ?? etag;
                    lastModified = response.Content.Headers.LastModified ?? lastModified;
                    await writer.WriteAsync(new SourceMessage(body, SourceMessage.Now(), subject), stopping).ConfigureAwait(false);
                }
                else
                {
                    reason = "status";
                    failure = $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}";
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                reason = "timeout";
                failure = $"no answer within Timeout ({DurationParser.Format(settings.Timeout)})";
            }
            catch (HttpRequestException e)
            {
                // No connection, or an answer that could not be read (a body beyond MaxResponseBytes, say).
                reason = e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                    ? "connection" : "response";
                failure = e.GetBaseException().Message;
            }
            catch (IOException e)
            {
                reason = "connection";
                failure = e.GetBaseException().Message;
            }

            if (failure is null)
            {
                if (failedBefore) telemetry.Reconnected();
                failedBefore = false;
                telemetry.SetState(SourceState.Connected);
            }
            else
            {
                failedBefore = true;
                errors.Add(context.Name, reason!);
                telemetry.SetState(SourceState.BackingOff, failure);
            }
        }
    }

    private HttpRequestMessage Request(string? etag, DateTimeOffset? lastModified)
    {
        var request = new HttpRequestMessage(settings.Method, settings.Url);
        WebSettings.Apply(request.Headers, settings.Headers, settings.Authorization);
        if (settings.Body is not null)
        {
            request.Content = new StringContent(settings.Body);
            request.Content.Headers.ContentType = null;
            // Content-Type (and any other content header) is a header of the body, not of the request.
            foreach (var (name, value) in settings.Headers)
                if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
                    request.Content.Headers.TryAddWithoutValidation(name, value);
            request.Content.Headers.ContentType ??= new MediaTypeHeaderValue("application/json");
        }
        if (etag is not null) request.Headers.TryAddWithoutValidation("If-None-Match", etag);
        if (lastModified is not null) request.Headers.IfModifiedSince = lastModified;
        return request;
    }
}

/// <summary>Failed polls of every <c>http</c> source, as <c>ingest_source_poll_errors_total{source, reason}</c>.</summary>
internal sealed class PollErrors
{
    private static readonly ConditionalWeakTable<IngestMeter, PollErrors> ByMeter = new();
    private readonly ConcurrentDictionary<(string Source, string Reason), long> _counts = new();

    private PollErrors(IngestMeter meter) =>
        meter.Meter.CreateObservableCounter("ingest.source.poll.errors", () => _counts.Select(c =>
                new Measurement<long>(c.Value, new("source", c.Key.Source), new("reason", c.Key.Reason))), "{poll}",
            "Polls of an http source that gave nothing, by source and reason: status (a non-2xx answer), timeout, connection, response (too large or unreadable).");

    public static PollErrors For(IngestMeter meter) => ByMeter.GetValue(meter, m => new PollErrors(m));

    public void Add(string source, string reason) => _counts.AddOrUpdate((source, reason), 1, (_, v) => v + 1);
}
