namespace Ingest.Configuration;

/// <summary>A configuration value the daemon cannot run with. The message names the key and the value.</summary>
public sealed class ConfigurationError : Exception
{
    public ConfigurationError(string key, string? value, string expectation)
        : base($"invalid configuration: {key} = '{Shown(key, value)}': {expectation}")
    {
        Key = key;
        Value = value;
    }

    /// <summary>
    /// The value as the message shows it: a start-up error goes to the journal, so a password or token is masked
    /// (whole for keys that hold one, in place for strings that carry one, such as <c>password=</c> or URL user info).
    /// </summary>
    public static string? Shown(string key, string? value)
    {
        if (value is null) return null;
        var last = key[(key.LastIndexOf(':') + 1)..];
        if (last.Contains("Password", StringComparison.OrdinalIgnoreCase) || last.Equals("Token", StringComparison.OrdinalIgnoreCase) ||
            last.Contains("Secret", StringComparison.OrdinalIgnoreCase))
            return value.Length == 0 ? value : Ingest.Hosting.SecretRedactor.Mask;
        return Ingest.Hosting.SecretRedactor.Default.Redact(value);
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
