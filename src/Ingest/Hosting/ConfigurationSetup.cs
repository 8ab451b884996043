using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.Memory;

namespace Ingest.Hosting;

/// <summary>
/// Layers the daemon's configuration, lowest precedence first: built-in defaults, the JSON file, environment
/// variables with the <c>INGEST_</c> prefix (<c>INGEST_Influx__Url</c>), then the command line
/// (<c>--Influx:Url=…</c>, <c>--urls …</c>).
/// </summary>
public static class ConfigurationSetup
{
    public const string EnvironmentPrefix = "INGEST_";
    public const string DefaultUrls = "http://127.0.0.1:8186";

    /// <summary>
    /// The JSON file: <c>--config PATH</c> / <c>INGEST_CONFIG</c> when given (it must exist), else
    /// <c>config/ingest.json</c> under the working directory, else <c>ingest.json</c> beside the binary, else none.
    /// </summary>
    public static string? ResolveConfigFile(string[] args, out string? error)
    {
        error = null;
        string? explicitPath = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--config" or "-c" && i + 1 < args.Length) explicitPath = args[i + 1];
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal)) explicitPath = args[i]["--config=".Length..];
        }
        explicitPath ??= Environment.GetEnvironmentVariable(EnvironmentPrefix + "CONFIG");
        if (!string.IsNullOrEmpty(explicitPath))
        {
            var full = Path.GetFullPath(explicitPath);
            if (!File.Exists(full)) error = $"configuration file not found: {full}";
            return full;
        }
        foreach (var candidate in new[] { Path.Combine(Directory.GetCurrentDirectory(), "config", "ingest.json"), Path.Combine(AppContext.BaseDirectory, "ingest.json") })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>
    /// Log levels when no source sets them (a file without a <c>Logging</c> section): the daemon's own messages,
    /// but neither a line per HTTP request served nor one per request sent to InfluxDB. Any source overrides them.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> DefaultLogLevels = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
    };

    public static void Apply(ConfigurationManager configuration, string[] args, string? configFile)
    {
        // Lowest precedence of all, below the host's own sources too.
        configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = DefaultLogLevels });

        // Keep the host's own sources (ASPNETCORE_/DOTNET_ variables) but put ours before the command line,
        // which must stay last so that it overrides everything.
        var commandLine = configuration.Sources.OfType<CommandLineConfigurationSource>().ToList();
        foreach (var source in commandLine) configuration.Sources.Remove(source);

        if (configFile is not null) configuration.AddJsonFile(configFile, optional: false, reloadOnChange: false);
        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        configuration.AddCommandLine(args.Where((a, i) => !IsConfigArgument(args, i)).ToArray());
        if (string.IsNullOrEmpty(configuration["urls"])) configuration["urls"] = DefaultUrls;
    }

    private static bool IsConfigArgument(string[] args, int i) =>
        args[i] is "--config" or "-c" || args[i].StartsWith("--config=", StringComparison.Ordinal) ||
        (i > 0 && args[i - 1] is "--config" or "-c");
}
