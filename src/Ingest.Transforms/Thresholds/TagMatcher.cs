namespace Ingest.Transforms.Thresholds;

/// <summary>
/// A condition on one tag of a series, on unescaped text. <see cref="Pattern"/> is a glob: <c>*</c> matches any
/// run of characters (also none), <c>?</c> exactly one; every other character matches itself, case-sensitively
/// (tag values are case-sensitive in InfluxDB). A positive matcher needs the tag present with a matching value;
/// a negative one (<see cref="Negate"/>) passes when the tag is absent or its value does not match.
/// </summary>
public sealed record TagMatcher(string Key, string Pattern, bool Negate = false)
{
    /// <summary>
    /// The configuration form: <c>"web-*"</c> matches, <c>"!prod"</c> must not match. A leading <c>!</c> can
    /// be matched literally by writing it as <c>?</c>.
    /// </summary>
    public static TagMatcher Parse(string key, string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        return expression.StartsWith('!')
            ? new TagMatcher(key, expression.Substring(1), Negate: true)
            : new TagMatcher(key, expression);
    }

    public override string ToString() => $"{Key}{(Negate ? "!=" : "=")}{Pattern}";
}
