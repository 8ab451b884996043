using Ingest.Configuration;

namespace Ingest.Sources.Decoding;

/// <summary>How a JSON document becomes points (<c>Sources:&lt;name&gt;:Json</c>).</summary>
public sealed record JsonMapping
{
    internal static JsonMapping Read(SectionReader r) =>
        throw new ConfigurationError(r.Name + ":Format", "json", "JSON payloads are not decoded yet");
}
