using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.Sinks.DeadLetter;

/// <summary>What one block of a dead-letter file says about the points after it.</summary>
/// <param name="Time">When they were set aside (UTC).</param>
/// <param name="Sink">The sink that could not deliver them (<c>influx</c>, <c>influx_derived</c>, <c>influx_alerts</c>).</param>
/// <param name="Database">Their database (1.x) or bucket (2.x).</param>
/// <param name="RetentionPolicy">Their retention policy; empty for the database's default.</param>
/// <param name="Reason">Why: the label of <c>ingest_sink_points_dead_lettered_total{reason}</c>.</param>
/// <param name="Status">InfluxDB's HTTP status for them, 0 when none came.</param>
/// <param name="Error">InfluxDB's error text.</param>
/// <param name="Points">How many lines follow.</param>
public sealed record DeadLetterHeader(
    DateTimeOffset Time, string Sink, string Database, string RetentionPolicy, string Reason, int Status, string Error, int Points);

/// <summary>A block read back from a dead-letter file: its header and its lines (line protocol, nanosecond timestamps).</summary>
public sealed record DeadLetterBlock(DeadLetterHeader Header, byte[] Lines);

/// <summary>
/// The file format: line protocol with nanosecond timestamps, in blocks that each start with one comment line
/// <c>#ingest-dead-letter {json header}</c>. A line-protocol reader skips the headers as comments, so a file can
/// be read by eye or by any tool; the headers say where each block's points were going and why they are here.
/// </summary>
public static class DeadLetterFile
{
    public const string Extension = ".lp";
    public const string ReplayedExtension = ".replayed";
    private static readonly byte[] Prefix = "#ingest-dead-letter "u8.ToArray();

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The header line, ending in LF.</summary>
    public static byte[] HeaderLine(DeadLetterHeader header)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        var line = new byte[Prefix.Length + json.Length + 1];
        Prefix.CopyTo(line, 0);
        json.CopyTo(line, Prefix.Length);
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>Reads every block of <paramref name="path"/>; a header that does not parse names the file and line.</summary>
    public static List<DeadLetterBlock> Read(string path)
    {
        var blocks = new List<DeadLetterBlock>();
        var data = File.ReadAllBytes(path);
        DeadLetterHeader? header = null;
        var lines = new MemoryStream();
        var lineNumber = 0;
        var start = 0;
        while (start < data.Length)
        {
            var end = Array.IndexOf(data, (byte)'\n', start);
            if (end < 0) end = data.Length;
            lineNumber++;
            var line = data.AsSpan(start, end - start);
            if (line.StartsWith(Prefix))
            {
                if (header is not null) blocks.Add(new DeadLetterBlock(header, lines.ToArray()));
                lines.SetLength(0);
                try
                {
                    header = JsonSerializer.Deserialize<DeadLetterHeader>(line[Prefix.Length..], Json)
                        ?? throw new JsonException("empty header");
                }
                catch (JsonException e)
                {
                    throw new FormatException($"{path}, line {lineNumber}: not a dead-letter header ({e.Message})");
                }
            }
            else if (line.Length > 0)
            {
                if (header is null) throw new FormatException($"{path}, line {lineNumber}: points before the first dead-letter header");
                lines.Write(line);
                lines.WriteByte((byte)'\n');
            }
            start = end + 1;
        }
        if (header is not null) blocks.Add(new DeadLetterBlock(header, lines.ToArray()));
        return blocks;
    }

    /// <summary>A short, single-line sample of <paramref name="lines"/> for a log message.</summary>
    public static string Sample(ReadOnlySpan<byte> lines, int max = 200)
    {
        var end = lines.IndexOf((byte)'\n');
        var first = end < 0 ? lines : lines[..end];
        var text = Encoding.UTF8.GetString(first.Length > max ? first[..max] : first);
        return first.Length > max ? text + "…" : text;
    }
}
