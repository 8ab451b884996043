using System.Collections;
using System.Net;
using Ingest.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace Ingest.Hosting;

/// <summary>
/// The rule that, with <c>Auth:Enabled=false</c> and without <c>Auth:AllowAnonymousNonLoopback</c>, the daemon
/// serves loopback only. Checked twice: on the configured addresses (<c>urls</c>, <c>Kestrel:Endpoints:*:Url</c>)
/// before anything binds, which fails fast and names the key; and on every address the server actually bound,
/// which holds however Kestrel was told to listen. Until the second check has passed, <see cref="ListeningGate"/>
/// answers every request 503, so nothing is served on an address the check is about to refuse.
/// </summary>
public static class Exposure
{
    private const string Advice = "enable Auth, or set Auth:AllowAnonymousNonLoopback=true to accept anonymous access from the network";

    /// <summary>Throws for a configured address beyond loopback (a wildcard, <c>0.0.0.0</c>, <c>[::]</c>, a host name other than <c>localhost</c>).</summary>
    public static void CheckConfigured(AuthOptions auth, IConfiguration configuration)
    {
        if (!Applies(auth)) return;
        foreach (var (key, value) in Configured(configuration))
        {
            foreach (var url in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!IsLoopback(url))
                    throw new ConfigurationError(key, value,
                        $"{url} is beyond loopback and Auth:Enabled=false would accept anonymous access from the network{SetBy(configuration, key, value)}; {Advice}");
            }
        }
    }

    /// <summary>
    /// After the server has bound: the first address beyond loopback, named with the key that asked for it (matched
    /// by port), as the error to stop with; null when every address is loopback or the rule does not apply.
    /// </summary>
    public static ConfigurationError? CheckBound(AuthOptions auth, IEnumerable<string> addresses, IConfiguration configuration)
    {
        if (!Applies(auth)) return null;
        foreach (var address in addresses)
        {
            if (IsLoopback(address)) continue;
            var port = Port(address);
            foreach (var (key, value) in Configured(configuration))
            {
                if (port is not null && value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Any(u => Port(u) == port))
                    return new ConfigurationError(key, value,
                        $"the server is listening on {address}, beyond loopback, with Auth:Enabled=false{SetBy(configuration, key, value)}; {Advice}");
            }
            return new ConfigurationError("the server is listening on " + address +
                ", beyond loopback, with Auth:Enabled=false; no urls or Kestrel:Endpoints:*:Url key asked for it (it was set in code or by a hosting extension); " + Advice);
        }
        return null;
    }

    private static bool Applies(AuthOptions auth) => !auth.Enabled && !auth.AllowAnonymousNonLoopback;

    /// <summary>The keys that make Kestrel listen. With endpoints configured Kestrel ignores <c>urls</c>, which is then harmless to check.</summary>
    private static IEnumerable<(string Key, string Value)> Configured(IConfiguration configuration)
    {
        if (configuration["urls"] is { Length: > 0 } urls) yield return ("urls", urls);
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
            if (endpoint["Url"] is { Length: > 0 } url) yield return ($"Kestrel:Endpoints:{endpoint.Key}:Url", url);
    }

    /// <summary>Loopback, <c>localhost</c>, or a Unix socket or named pipe (local by nature); anything else binds a network.</summary>
    public static bool IsLoopback(string address)
    {
        BindingAddress parsed;
        try
        {
            parsed = BindingAddress.Parse(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
        }
        catch (FormatException)
        {
            return false;
        }
        if (parsed.IsUnixPipe || parsed.IsNamedPipe) return true;
        var host = parsed.Host.Trim('[', ']');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (!IPAddress.TryParse(host, out var ip)) return false;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        return IPAddress.IsLoopback(ip);
    }

    private static int? Port(string address)
    {
        try
        {
            var parsed = BindingAddress.Parse(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
            return parsed.IsUnixPipe || parsed.IsNamedPipe ? null : parsed.Port;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>", set by --urls" (or the variable or file that holds the effective value), for the operator to find it.</summary>
    private static string SetBy(IConfiguration configuration, string key, string value)
    {
        if (configuration is not IConfigurationRoot root) return "";
        foreach (var provider in root.Providers.Reverse())
        {
            if (!provider.TryGet(key, out var held) || held != value) continue;
            switch (provider)
            {
                case CommandLineConfigurationProvider:
                    return $", set by --{key}";
                case EnvironmentVariablesConfigurationProvider:
                    var name = key.Replace(":", "__", StringComparison.Ordinal);
                    foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
                    {
                        var variableName = (string)variable.Key;
                        if ((string?)variable.Value == value && variableName.EndsWith(name, StringComparison.OrdinalIgnoreCase))
                            return $", set by the environment variable {variableName}";
                    }
                    return ", set by an environment variable";
                case FileConfigurationProvider or Microsoft.Extensions.Configuration.Json.JsonStreamConfigurationProvider:
                    return ", set in the configuration file";
                default:
                    return "";
            }
        }
        return "";
    }
}

/// <summary>
/// Holds requests back (503, <c>Connection: close</c>) from the moment the server binds until
/// <see cref="Exposure.CheckBound"/> has passed: the window in which an address it will refuse is already open.
/// </summary>
public sealed class ListeningGate
{
    private volatile bool _open;

    public bool IsOpen => _open;

    public void Open() => _open = true;

    public Task Refuse(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
        context.Response.Headers.Connection = "close";
        return Task.CompletedTask;
    }
}
