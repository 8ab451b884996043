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

    /// <summary>The first of a validator's messages (each already naming key and value), and how many more there are.</summary>
    public static ConfigurationError FirstOf(IReadOnlyList<string> errors, string prefix = "") =>
        new("invalid configuration: " + prefix + errors[0] + (errors.Count > 1 ? $" (and {errors.Count - 1} more)" : ""));

    public string Key { get; }
    public string? Value { get; }
}
