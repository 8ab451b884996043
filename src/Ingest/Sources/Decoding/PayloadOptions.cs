using Ingest.Configuration;
using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>How a source's payloads become points: <c>Format</c> and, for JSON, the <c>Json</c> mapping.</summary>
public sealed record PayloadOptions
{
    /// <summary><c>line</c> (line protocol, the default) or <c>json</c>.</summary>
    public PayloadFormat Format { get; init; } = PayloadFormat.LineProtocol;

    /// <summary>The unit of line-protocol timestamps (n, u, ms, s, m, h as on <c>/write</c>).</summary>
    public Precision Precision { get; init; } = Precision.Nanoseconds;

    /// <summary>The JSON mapping; null unless <see cref="Format"/> is JSON.</summary>
    public JsonMapping? Json { get; init; }

    private static readonly Dictionary<string, PayloadFormat> Formats = new()
    {
        ["line"] = PayloadFormat.LineProtocol,
        ["json"] = PayloadFormat.Json,
    };

    internal static PayloadOptions Read(SectionReader r)
    {
        var format = r.Choice("Format", PayloadFormat.LineProtocol, Formats);
        var precisionText = r.String("Precision", "ns");
        if (!PrecisionExtensions.TryParseV1(precisionText, out var precision))
            throw new ConfigurationError(r.Name + ":Precision", precisionText, "use n (or ns), u, ms, s, m or h");
        var json = format == PayloadFormat.Json ? JsonMapping.Read(r) : null;
        if (json is null && r.Child("Json").Exists())
            throw new ConfigurationError(r.Name + ":Json", "", "a Json mapping needs Format json");
        return new PayloadOptions { Format = format, Precision = precision, Json = json };
    }
}

public enum PayloadFormat
{
    LineProtocol,
    Json,
}
