using System.Net.Http.Headers;
using System.Text;

namespace Ingest.Sinks.Influx;

public sealed partial class InfluxClient
{
    /// <summary>InfluxDB's URL without user info, for messages clients and logs see.</summary>
    public string DisplayUrl => new UriBuilder(_options.Url) { UserName = "", Password = "" }.Uri.ToString();

    /// <summary>
    /// Sends a query request the caller built (relative <paramref name="path"/> and its content) with the daemon's
    /// own InfluxDB credentials: the token, or else the user name and password as Basic auth (kept out of the URL).
    /// The answer is returned once its headers are in, for the caller to stream; the caller disposes it.
    /// </summary>
    public Task<HttpResponseMessage> SendQueryAsync(HttpMethod method, string path, HttpContent? content, string? accept, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(method, new Uri(_options.Url, path)) { Content = content };
        Authorize(request);
        if (request.Headers.Authorization is null && _options.Username.Length > 0)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(_options.Username + ":" + _options.Password)));
        if (!string.IsNullOrEmpty(accept))
            request.Headers.TryAddWithoutValidation("Accept", accept);
        return SendDisposingAsync(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendDisposingAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }
}
