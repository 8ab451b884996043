using Microsoft.Extensions.Configuration;

namespace Ingest.Hosting.Reload;

/// <summary>
/// The daemon's configuration as its layers built it at start: the host's configuration, the file it read (null:
/// none), that file's layer among the others, and the override layer on top of them all. A reload reads the file
/// again into the same stack (<see cref="ConfigurationSetup.Rebuild"/>); only what applies at once reaches the
/// running configuration, through <see cref="Overrides"/> (the <c>Logging</c> section, which the loggers follow).
/// </summary>
public sealed record ConfigurationLayers(ConfigurationManager Manager, string? File, IConfigurationSource? FileSource, OverrideConfigurationProvider Overrides);

/// <summary>The top layer of the running configuration; empty until a reload fills it.</summary>
public sealed class OverrideConfigurationSource : IConfigurationSource
{
    public OverrideConfigurationProvider Provider { get; } = new();

    public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
}

/// <summary>
/// Keys a reload sets above every other layer. Its values are the effective ones the reload computed from all layers,
/// so holding them on top changes nothing but what the file changed. A key the new configuration no longer has is
/// set empty, which the loggers read as unset.
/// </summary>
public sealed class OverrideConfigurationProvider : ConfigurationProvider
{
    /// <summary>Replaces every key under <paramref name="section"/> with <paramref name="values"/> and tells the listeners.</summary>
    public void Replace(string section, IReadOnlyDictionary<string, string?> values)
    {
        foreach (var key in Data.Keys.Where(k => k.Equals(section, StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase)).ToList())
            Data.Remove(key);
        foreach (var (key, value) in values) Data[key] = value;
        OnReload();
    }
}
