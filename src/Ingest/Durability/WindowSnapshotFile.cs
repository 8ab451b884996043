using Ingest.Transforms.Downsample;
using Ingest.Transforms.Snapshots;

namespace Ingest.Durability;

/// <summary>
/// <c>transforms.snapshot</c>, beside the write-ahead log: the magic bytes <c>IWSN</c>, a version byte, the log
/// record it covers (every record up to it, varint) and the records above it that it holds too (count, then ascending
/// deltas), when it was taken (Unix ms, zigzag varint), the windows (<see cref="DownsampleStage.BeginSnapshot"/>),
/// and a CRC-32C of all of that. Written as <c>transforms.snapshot.tmp</c>, fsynced, and renamed over once safe.
/// </summary>
internal static class WindowSnapshotFile
{
    public const string FileName = "transforms.snapshot";
    public const string TempSuffix = ".tmp";
    public const string CorruptSuffix = ".corrupt";
    private const byte Version = 1;
    private static ReadOnlySpan<byte> Magic => "IWSN"u8;

    public sealed record Header(long Covered, long[] Held, DateTimeOffset TakenAt);

    public static void WriteHeader(StateWriter writer, long covered, long[] held, DateTimeOffset takenAt)
    {
        foreach (byte b in Magic) writer.WriteByte(b);
        writer.WriteByte(Version);
        writer.WriteVarint((ulong)covered);
        writer.WriteVarint((ulong)held.Length);
        long previous = covered;
        foreach (long s in held)
        {
            writer.WriteVarint((ulong)(s - previous));
            previous = s;
        }
        writer.WriteSigned(takenAt.ToUnixTimeMilliseconds());
    }

    /// <summary>Reads and checks a snapshot file; the stage is only returned once the checksum passed.</summary>
    /// <exception cref="FormatException">Not a snapshot of this version, or damaged.</exception>
    /// <exception cref="IOException">It could not be read.</exception>
    public static (Header Header, DownsampleStage Stage, IReadOnlyList<string> Notes) Read(string path, DownsampleOptions options)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (file.Length < Magic.Length + 1 + 4) throw new FormatException($"snapshot: {file.Length} bytes is too short for a snapshot");
        using var reader = new StateReader(file, file.Length - 4);
        foreach (byte b in Magic)
        {
            if (reader.ReadByte() != b) throw new FormatException("snapshot: not a snapshot of the windows (magic bytes differ)");
        }
        byte version = reader.ReadByte();
        if (version != Version) throw new FormatException($"snapshot: file version {version}, this daemon reads {Version}");
        long covered = (long)reader.ReadVarint();
        var held = new long[reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining + 1), "held record count")];
        long previous = covered;
        for (int i = 0; i < held.Length; i++)
        {
            ulong delta = reader.ReadVarint();
            if (delta == 0) throw new FormatException("snapshot: held records not ascending");
            held[i] = previous = checked(previous + (long)delta);
        }
        var takenAt = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(reader.ReadSigned(), 0, 253402300799999));
        var stage = DownsampleStage.ReadSnapshot(options, reader, out var notes);
        reader.Complete();
        return (new Header(covered, held, takenAt), stage, notes);
    }
}
