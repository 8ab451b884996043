namespace Ingest.Configuration;

/// <summary>A configuration value the daemon cannot run with. The message names the key and the value.</summary>
public sealed class ConfigurationError : Exception
{
    public ConfigurationError(string key, string? value, string expectation)
        : base($"invalid configuration: {key} = '{value}': {expectation}")
    {
        Key = key;
        Value = value;
    }

    public ConfigurationError(string message) : base(message)
    {
        Key = "";
    }

    public string Key { get; }
    public string? Value { get; }
}
