using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// JSON form of the state, for any byte store (the daemon uses Redis). Compact: unset times are left out,
/// levels are words. Source-generated, so it works trimmed and without reflection.
/// </summary>
public static class ThresholdSnapshotJson
{
    public static byte[] Serialize(ThresholdSnapshot snapshot) =>
        JsonSerializer.SerializeToUtf8Bytes(snapshot, ThresholdJsonContext.Default.ThresholdSnapshot);

    public static ThresholdSnapshot Deserialize(ReadOnlySpan<byte> json)
    {
        var snapshot = JsonSerializer.Deserialize(json, ThresholdJsonContext.Default.ThresholdSnapshot)
            ?? throw new JsonException("threshold snapshot is null");
        if (snapshot.Version != ThresholdSnapshot.CurrentVersion)
            throw new JsonException($"threshold snapshot version {snapshot.Version} is not {ThresholdSnapshot.CurrentVersion}");
        return snapshot;
    }

    /// <summary>One state alone, for stores that keep a value per alert id and write only the dirty ones.</summary>
    public static byte[] Serialize(AlertStateRecord record) =>
        JsonSerializer.SerializeToUtf8Bytes(record, ThresholdJsonContext.Default.AlertStateRecord);

    public static AlertStateRecord DeserializeRecord(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, ThresholdJsonContext.Default.AlertStateRecord)
        ?? throw new JsonException("alert state record is null");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(ThresholdSnapshot))]
[JsonSerializable(typeof(AlertStateRecord))]
internal sealed partial class ThresholdJsonContext : JsonSerializerContext;
