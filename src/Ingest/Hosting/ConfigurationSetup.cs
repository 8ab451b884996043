using System.Text.Json;
using Ingest.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.Memory;

namespace Ingest.Hosting;

/// <summary>
/// Layers the daemon's configuration, lowest precedence first: built-in defaults, the JSON file, environment
/// variables with the <c>INGEST_</c> prefix (<c>INGEST_Influx__Url</c>), then the command line
/// (<c>--Influx:Url=…</c>, <c>--urls …</c>). Whatever in those cannot be used (a file that cannot be read or is
/// not JSON, a section nobody reads, a log level that does not exist) is a <see cref="ConfigurationError"/>.
/// </summary>
public static class ConfigurationSetup
{
    public const string EnvironmentPrefix = "INGEST_";
    public const string DefaultUrls = "http://127.0.0.1:8186";

    /// <summary>
    /// The top-level keys a configuration source of the daemon may hold: its own sections, then those the host
    /// reads (<c>Logging</c>, <c>Kestrel</c>, <c>urls</c>, <c>AllowedHosts</c>, <c>environment</c>), and
    /// <c>CONFIG</c>, which is <c>INGEST_CONFIG</c> seen as a key.
    /// </summary>
    public static readonly IReadOnlyList<string> KnownSections =
    [
        "Influx", "Buffer", "Http", "Auth", "Redis", "Wal", "DeadLetter", "Feed", "Live", "Pipeline", "Downsample", "Thresholds", "Sources",
        "Logging", "Kestrel", "urls", "AllowedHosts", "environment",
    ];

    private static readonly HashSet<string> Known = new([.. KnownSections, "config"], StringComparer.OrdinalIgnoreCase);

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
            if (Directory.Exists(full)) error = $"configuration file {full} is a directory";
            else if (!File.Exists(full)) error = $"configuration file not found: {full}";
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
        ["Logging:LogLevel:StackExchange.Redis"] = "Warning",
    };

    /// <summary>
    /// Adds the daemon's sources to the host's and checks what they hold; throws <see cref="ConfigurationError"/>. The
    /// answer is what a reload needs to read the file again over the same layers (see <see cref="ConfigurationLayers"/>).
    /// </summary>
    public static Reload.ConfigurationLayers Apply(ConfigurationManager configuration, string[] args, string? configFile)
    {
        // Lowest precedence of all, below the host's own sources too.
        configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = DefaultLogLevels });

        // Keep the host's own sources (ASPNETCORE_/DOTNET_ variables) but put ours before the command line,
        // which must stay last so that it overrides everything.
        var commandLine = configuration.Sources.OfType<CommandLineConfigurationSource>().ToList();
        foreach (var source in commandLine) configuration.Sources.Remove(source);

        var settings = args.Where((a, i) => !IsConfigArgument(args, i)).ToArray();
        IConfigurationSource? fileSource = null;
        if (configFile is not null)
        {
            fileSource = FileSource(configFile);
            configuration.Sources.Add(fileSource);
        }
        // Variables that name no section (INGEST_PORT, read by run.sh) share the prefix without being settings.
        RejectUnknownSections(Build(b => b.AddEnvironmentVariables(EnvironmentPrefix)), "from the environment",
            key => $"{EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)}", scalars: false);
        RejectUnknownSections(Build(b => b.AddCommandLine(settings)), "from the command line", key => "--" + key, scalars: true);
        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        configuration.AddCommandLine(settings);
        if (string.IsNullOrEmpty(configuration["urls"])) configuration["urls"] = DefaultUrls;
        CheckLogLevels(configuration.GetSection("Logging"));
        // Last, so above every layer: a reload puts the effective Logging section here (see ConfigurationLayers).
        var overrides = new Reload.OverrideConfigurationSource();
        configuration.Sources.Add(overrides);
        return new Reload.ConfigurationLayers(configuration, configFile, fileSource, overrides.Provider);
    }

    /// <summary>The configuration file as a layer, once it is known to be readable JSON with known sections only.</summary>
    internal static IConfigurationSource FileSource(string configFile)
    {
        var json = ReadFile(configFile);
        RejectUnknownSections(Build(b => b.AddJsonStream(new MemoryStream(json))), $"in {configFile}", key => key, scalars: true);
        return new Microsoft.Extensions.Configuration.Json.JsonStreamConfigurationSource { Stream = new MemoryStream(json) };
    }

    /// <summary>
    /// What the layers give with the configuration file read again: the same layers as at start, in the same order,
    /// with the file's in place of the one read then; checked as at start. Throws <see cref="ConfigurationError"/>.
    /// </summary>
    internal static IConfigurationRoot Rebuild(Reload.ConfigurationLayers layers)
    {
        var fresh = layers.File is null ? null : FileSource(layers.File);
        var builder = new ConfigurationBuilder();
        foreach (var source in layers.Manager.Sources)
        {
            if (source is Reload.OverrideConfigurationSource) continue;
            builder.Sources.Add(ReferenceEquals(source, layers.FileSource) ? fresh! : source);
        }
        var root = builder.Build();
        if (string.IsNullOrEmpty(root["urls"])) root["urls"] = DefaultUrls;
        CheckLogLevels(root.GetSection("Logging"));
        return root;
    }

    private static IConfigurationRoot Build(Action<IConfigurationBuilder> add)
    {
        var builder = new ConfigurationBuilder();
        add(builder);
        return builder.Build();
    }

    /// <summary>
    /// The file's bytes, once it is known to be readable JSON: its own errors, with the line, rather than the
    /// configuration library's exception from deep inside the host.
    /// </summary>
    private static byte[] ReadFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationError($"invalid configuration: cannot read configuration file {path}: {e.Message}");
        }
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigurationError($"invalid configuration: configuration file {path} must hold a JSON object, not {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
        }
        catch (JsonException e)
        {
            // The reader's message ends with its own 0-based position, which the line and column replace.
            var reason = e.Message;
            var cut = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) reason = reason[..cut];
            throw new ConfigurationError($"invalid configuration: configuration file {path} is not valid JSON at line {e.LineNumber + 1}, column {e.BytePositionInLine + 1}: {reason}");
        }
        try
        {
            // Duplicate keys, which JSON allows and configuration does not.
            Build(b => b.AddJsonStream(new MemoryStream(bytes)));
        }
        catch (Exception e) when (e is FormatException or InvalidDataException)
        {
            throw new ConfigurationError($"invalid configuration: configuration file {path}: {(e.InnerException ?? e).Message}");
        }
        return bytes;
    }

    /// <summary>A top-level key nobody reads is a typo (<c>Wall:Directory</c>), not a setting to ignore.</summary>
    private static void RejectUnknownSections(IConfiguration source, string where, Func<string, string> spelling, bool scalars)
    {
        foreach (var section in source.GetChildren())
        {
            if (Known.Contains(section.Key) || (!scalars && section.Value is not null)) continue;
            var (key, value) = FirstValue(section);
            throw new ConfigurationError(key, value,
                $"unknown section '{section.Key}' (set {where} as {spelling(key)}); the sections are {string.Join(", ", KnownSections)}");
        }
    }

    private static (string Key, string? Value) FirstValue(IConfigurationSection section)
    {
        if (section.Value is not null) return (section.Path, section.Value);
        foreach (var child in section.GetChildren()) return FirstValue(child);
        return (section.Path, section.Value);
    }

    /// <summary>
    /// Every <c>LogLevel</c> value under <c>Logging</c> (<c>Logging:LogLevel:X</c>, <c>Logging:Console:LogLevel:X</c>)
    /// must name a level: the logging library would otherwise throw from inside the host once the first logger is made.
    /// </summary>
    private static void CheckLogLevels(IConfigurationSection logging)
    {
        foreach (var section in logging.GetChildren())
        {
            if (section.Key.Equals("LogLevel", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var level in section.GetChildren())
                {
                    if (string.IsNullOrEmpty(level.Value)) continue;
                    if (!Enum.TryParse<LogLevel>(level.Value, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
                        throw new ConfigurationError(level.Path, level.Value, "expected a log level: " + string.Join(", ", Enum.GetNames<LogLevel>()));
                }
            }
            else
            {
                CheckLogLevels(section);
            }
        }
    }

    private static bool IsConfigArgument(string[] args, int i) =>
        args[i] is "--config" or "-c" || args[i].StartsWith("--config=", StringComparison.Ordinal) ||
        (i > 0 && args[i - 1] is "--config" or "-c");
}
