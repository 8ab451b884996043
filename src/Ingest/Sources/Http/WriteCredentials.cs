using System.Security.Cryptography;
using System.Text;
using Ingest.Configuration;
using Microsoft.AspNetCore.Http;

namespace Ingest.Sources.Http;

/// <summary>
/// Checks the credentials of a write in every form InfluxDB clients send them: <c>Authorization: Token …</c>
/// (2.x, or 1.x's <c>Token user:password</c>), <c>Authorization: Bearer …</c>, Basic auth and the <c>u</c>/<c>p</c>
/// query parameters. The secret (token or password) is compared by its SHA-256 digest. A reload replaces the
/// settings (<see cref="Options"/>) at once: the next request is checked against the new tokens.
/// </summary>
public sealed class WriteCredentials(AuthOptions options)
{
    private volatile AuthOptions _options = options;

    /// <summary>The settings in force; replaced whole by a reload.</summary>
    public AuthOptions Options
    {
        get => _options;
        set => _options = value ?? throw new ArgumentNullException(nameof(value));
    }

    public bool Enabled => _options.Enabled;

    /// <summary>
    /// The matching token, or null when the request carries no valid credential. With auth off every request
    /// is <see cref="ApiToken.Anonymous"/>, which may do everything.
    /// </summary>
    public ApiToken? Authenticate(HttpRequest request)
    {
        var options = _options;
        if (!options.Enabled) return ApiToken.Anonymous;
        foreach (var secret in Secrets(request))
        {
            if (secret.Length == 0) continue;
            if (options.Tokens.TryGetValue(Hash(secret), out var token)) return token;
        }
        return null;
    }

    /// <summary>
    /// For the API's endpoints: null when <paramref name="scope"/> is allowed, otherwise the answer: 401 with
    /// <c>WWW-Authenticate</c> without a valid token, 403 when the token lacks the scope.
    /// </summary>
    public IResult? Check(HttpContext context, Scopes scope)
    {
        var token = Authenticate(context.Request);
        if (token is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"ingest\"";
            return Results.Json(new { code = "unauthorized", message = "a valid token is required (Authorization: Bearer <token>)" }, statusCode: 401);
        }
        if (!token.Allows(scope))
            return Results.Json(new { code = "forbidden", message = $"token '{token.Name}' lacks the {scope.ToString().ToLowerInvariant()} scope" }, statusCode: 403);
        context.Items[TokenItem] = token;
        return null;
    }

    /// <summary>Where <see cref="Check"/> leaves the caller's token for the endpoint.</summary>
    public const string TokenItem = "ingest.token";

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static IEnumerable<string> Secrets(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Token ", StringComparison.Ordinal))
        {
            var value = header[6..].Trim();
            yield return value;
            var colon = value.IndexOf(':');
            if (colon >= 0) yield return value[(colon + 1)..];
        }
        else if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            yield return header[7..].Trim();
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            }
            catch (FormatException)
            {
                yield break;
            }
            var colon = decoded.IndexOf(':');
            yield return colon >= 0 ? decoded[(colon + 1)..] : decoded;
        }
        if (request.Query["p"].ToString() is { Length: > 0 } p) yield return p;
        // Browsers cannot set headers on a WebSocket: the live feed takes the token as a query parameter.
        if (request.Query["token"].ToString() is { Length: > 0 } t) yield return t;
    }
}
