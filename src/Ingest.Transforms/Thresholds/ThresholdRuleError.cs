namespace Ingest.Transforms.Thresholds;

/// <summary>
/// One invalid setting: the configuration key (<c>Thresholds:Rules:2:Warn</c>), the value as configured and
/// what was expected — the three parts the daemon's configuration error carries.
/// </summary>
public sealed record ThresholdRuleError(string Key, string? Value, string Expectation)
{
    public override string ToString() => $"{Key} = '{Value}': {Expectation}";
}

/// <summary>Rules that cannot run; <see cref="Errors"/> lists every problem, not only the first.</summary>
public sealed class InvalidThresholdRulesException : ArgumentException
{
    public InvalidThresholdRulesException(IReadOnlyList<ThresholdRuleError> errors)
        : base("invalid threshold rules: " + string.Join("; ", errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<ThresholdRuleError> Errors { get; }
}
