using System.Text.Json;

namespace Ingest.Wal;

/// <summary>
/// <c>checkpoints.json</c>: <c>{"version":1,"nextSequence":N,"consumers":{"name":sequence,…}}</c>.
/// <c>nextSequence</c> is a lower bound for the next append, so that sequences never go backwards even when
/// every segment is gone. Written atomically: temp file, fsync, rename, fsync of the directory.
/// </summary>
internal static class CheckpointFile
{
    private const int FormatVersion = 1;

    public sealed record Contents(long NextSequence, Dictionary<string, long> Consumers);

    /// <summary>Reads the file: null when it does not exist; throws <see cref="InvalidDataException"/> when it cannot be understood.</summary>
    public static Contents? Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("version", out JsonElement version) || version.GetInt32() != FormatVersion)
                throw new InvalidDataException("Unknown checkpoint file version.");
            long next = root.TryGetProperty("nextSequence", out JsonElement n) ? n.GetInt64() : 1;
            var consumers = new Dictionary<string, long>(StringComparer.Ordinal);
            if (root.TryGetProperty("consumers", out JsonElement list))
            {
                foreach (JsonProperty consumer in list.EnumerateObject())
                    consumers[consumer.Name] = Math.Max(0, consumer.Value.GetInt64());
            }
            return new Contents(Math.Max(1, next), consumers);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("The checkpoint file is not valid JSON of the expected shape.", ex);
        }
    }

    public static void Save(string directory, long nextSequence, IReadOnlyList<KeyValuePair<string, long>> consumers)
    {
        string path = Path.Combine(directory, WalFormat.CheckpointFileName);
        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
        {
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteNumber("version", FormatVersion);
                json.WriteNumber("nextSequence", nextSequence);
                json.WriteStartObject("consumers");
                foreach (KeyValuePair<string, long> consumer in consumers)
                    json.WriteNumber(consumer.Key, consumer.Value);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.TrySync(directory);
    }
}
