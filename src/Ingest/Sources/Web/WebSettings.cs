using System.Net.Http.Headers;
using System.Text;
using Ingest.Configuration;

namespace Ingest.Sources.Web;

/// <summary>What the websocket, sse and http sources read alike: request headers and credentials.</summary>
internal static class WebSettings
{
    public static readonly TimeSpan DefaultMaxReconnectDelay = TimeSpan.FromMilliseconds(1500);

    /// <summary>
    /// <c>Url</c>: required, absolute, one of <paramref name="schemes"/>; the error names the full key and the value
    /// (user info masked).
    /// </summary>
    public static Uri Url(SectionReader r, params string[] schemes)
    {
        var raw = r.String("Url", "");
        if (raw.Length == 0)
            throw new ConfigurationError(r.Name + ":Url", raw, $"a {string.Join(" or ", schemes)} URL is required");
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || !schemes.Contains(uri.Scheme, StringComparer.OrdinalIgnoreCase))
            throw new ConfigurationError(r.Name + ":Url", raw, "expected an absolute " + string.Join(" or ", schemes.Select(s => s + "://")) + " URL");
        return uri;
    }

    /// <summary><c>Headers</c>: a map of request header names to values.</summary>
    public static IReadOnlyDictionary<string, string> Headers(SectionReader r)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var child in r.Child("Headers").GetChildren())
        {
            var key = $"{r.Name}:Headers:{child.Key}";
            if (child.Value is null || child.GetChildren().Any())
                throw new ConfigurationError(key, "", "a header is a name and a text value");
            if (!IsToken(child.Key))
                throw new ConfigurationError(key, child.Key, "not a valid HTTP header name");
            if (child.Value.Any(c => c is '\r' or '\n' or '\0'))
                // The value may be a credential: not shown.
                throw new ConfigurationError(key + " holds a line break or NUL, which a header value cannot");
            headers[child.Key] = child.Value;
        }
        return headers;
    }

    /// <summary>
    /// <c>BearerToken</c>, or, when <paramref name="basic"/>, <c>Username</c>/<c>Password</c>: the
    /// <c>Authorization</c> header value, null when none is configured. Never shown in an error or a log.
    /// </summary>
    public static string? Authorization(SectionReader r, bool basic)
    {
        var token = r.String("BearerToken", "");
        string? user = null, password = null;
        if (basic)
        {
            user = r.String("Username", "");
            password = r.String("Password", "");
        }
        if (token.Length > 0 && (user is { Length: > 0 } || password is { Length: > 0 }))
            throw new ConfigurationError(r.Name + ":BearerToken", Ingest.Hosting.SecretRedactor.Mask, "use a bearer token or Username/Password, not both");
        if (token.Length > 0)
        {
            if (token.Any(char.IsControl))
                throw new ConfigurationError(r.Name + ":BearerToken holds a control character, which a header value cannot");
            return "Bearer " + token;
        }
        if (password is { Length: > 0 } && user is not { Length: > 0 })
            throw new ConfigurationError(r.Name + ":Username", "", "a Password needs a Username");
        if (user is { Length: > 0 })
            return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
        return null;
    }

    /// <summary><c>MaxReconnectDelay</c>: the longest wait between two connection attempts.</summary>
    public static TimeSpan MaxReconnectDelay(SectionReader r) =>
        r.Duration("MaxReconnectDelay", DefaultMaxReconnectDelay, ReconnectBackoff.InitialDelay, TimeSpan.FromMinutes(5));

    /// <summary>The URL as a message's subject and in logs: user info and secret query parameters masked.</summary>
    public static string Shown(Uri url) => Ingest.Hosting.SecretRedactor.Default.Redact(url.ToString());

    public static void Apply(HttpRequestHeaders target, IReadOnlyDictionary<string, string> headers, string? authorization)
    {
        foreach (var (name, value) in headers) target.TryAddWithoutValidation(name, value);
        if (authorization is not null)
        {
            target.Remove("Authorization");
            target.TryAddWithoutValidation("Authorization", authorization);
        }
    }

    private static bool IsToken(string name) =>
        name.Length > 0 && name.All(c => c < 127 && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)));
}

/// <summary>
/// The wait before each connection attempt after a loss: 250 ms, doubling up to a maximum (1.5 s by default, so
/// that a source is back within 2 s of its upstream), each wait drawn between 75 % and 100 % of its step so that
/// daemons that lost the same upstream do not all come back at the same instant. Not thread-safe.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan max)
{
    public static readonly TimeSpan InitialDelay = TimeSpan.FromMilliseconds(250);

    private TimeSpan _step = InitialDelay;

    /// <summary>The wait before the next attempt; the one after it is twice as long, up to the maximum.</summary>
    public TimeSpan Next(TimeSpan? first = null)
    {
        var step = first is { } f && f > _step ? (f < max ? f : max) : _step;
        _step = step * 2 < max ? step * 2 : max;
        return step * (0.75 + 0.25 * Random.Shared.NextDouble());
    }

    /// <summary>Connected: the next loss starts from the first step again.</summary>
    public void Reset() => _step = InitialDelay;
}
