using System.Security.Cryptography;
using System.Text;
using Ingest.Configuration;
using Microsoft.AspNetCore.Http;

namespace Ingest.Sources.Http;

/// <summary>
/// Checks the credentials of a write in every form InfluxDB clients send them: <c>Authorization: Token …</c>
/// (2.x, or 1.x's <c>Token user:password</c>), <c>Authorization: Bearer …</c>, Basic auth and the <c>u</c>/<c>p</c>
/// query parameters. The secret (token or password) is compared by its SHA-256 digest.
/// </summary>
public sealed class WriteCredentials(AuthOptions options)
{
    public bool Enabled => options.Enabled;

    /// <summary>The name of the matching token, or null when the request carries no valid credential.</summary>
    public string? Authenticate(HttpRequest request)
    {
        if (!options.Enabled) return "anonymous";
        foreach (var secret in Secrets(request))
        {
            if (secret.Length == 0) continue;
            if (options.TokenHashes.TryGetValue(Hash(secret), out var name)) return name;
        }
        return null;
    }

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
    }
}
