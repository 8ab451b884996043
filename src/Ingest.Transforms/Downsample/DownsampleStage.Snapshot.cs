using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

// Checkpointing the windows: the whole state the stage carries from one batch to the next, written so that a stage
// read back from it goes on exactly as this one would, whatever batches follow.
public sealed partial class DownsampleStage
{
    /// <summary>Version of what <see cref="WriteSnapshot"/> writes; a reader refuses any other.</summary>
    public const byte SnapshotFormat = 1;

    /// <summary>
    /// Writes the state of every tier: the interned names its windows use, each tier's clocks, and every window
    /// (open, or written and still within its lateness) with its field states, sketches and flags. Call between
    /// batches, like <see cref="Process"/>: it reads the same state. Allocates per snapshot, not per window.
    /// </summary>
    public void WriteSnapshot(StateWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteByte(SnapshotFormat);
        var numbers = _catalog.WriteSnapshot(writer);
        try
        {
            writer.WriteVarint((ulong)_tiers.Length);
            foreach (var tier in _tiers) tier.WriteSnapshot(writer, numbers);
        }
        finally
        {
            KeyCatalog.EndSnapshot(numbers);
        }
    }

    /// <summary>
    /// A stage for <paramref name="options"/> holding the state <see cref="WriteSnapshot"/> wrote. A tier is matched by
    /// name; one whose interval, lateness or source changed since, or that is no longer configured, is left out, and
    /// so is a window's percentile sketch that was not kept then: each is described in <paramref name="notes"/>.
    /// The reader's checksum is not checked here: keep the stage only once <see cref="StateReader.Complete"/> passed.
    /// </summary>
    /// <exception cref="FormatException">The snapshot is not one this version wrote, or is damaged.</exception>
    public static DownsampleStage ReadSnapshot(DownsampleOptions options, StateReader reader, out IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var stage = new DownsampleStage(options);
        var said = new List<string>();
        byte format = reader.ReadByte();
        if (format != SnapshotFormat) throw new FormatException($"snapshot: window state format {format}, this version reads {SnapshotFormat}");
        var (series, fields) = stage._catalog.ReadSnapshot(reader);
        var scratch = new LogSketch();
        var restored = new HashSet<string>(StringComparer.Ordinal);
        int tiers = reader.ReadCount(MaxTiersInSnapshot, "tier count");
        for (int t = 0; t < tiers; t++)
        {
            var header = TierSnapshotHeader.Read(reader);
            var tier = stage._tiers.FirstOrDefault(x => x.Settings.Name == header.Name);
            if (tier is not null && !restored.Add(header.Name)) throw new FormatException($"snapshot: tier '{header.Name}' appears twice");
            if (tier is null) said.Add($"tier '{header.Name}' is no longer configured: its windows were dropped");
            else if (tier.SnapshotHeader with { KeepSketch = header.KeepSketch } != header)
            {
                said.Add($"tier '{header.Name}' changed since the snapshot (was interval {header.Interval} ns, lateness {header.Lateness} ns, " +
                         $"source '{header.Source}'): its windows were dropped");
                tier = null;
            }
            long withoutSketch = TierState.ReadSnapshot(tier, header, reader, series, fields, scratch);
            if (withoutSketch > 0)
                said.Add($"tier '{header.Name}': {withoutSketch} field states had no percentile sketch in the snapshot; those windows are written without percentiles");
        }
        foreach (var tier in stage._tiers)
        {
            if (!restored.Contains(tier.Settings.Name)) said.Add($"tier '{tier.Settings.Name}' is new since the snapshot: it starts empty");
        }
        stage._catalog.ReleaseUnheld(series);
        notes = said;
        return stage;
    }

    private const int MaxTiersInSnapshot = 1024;
}
