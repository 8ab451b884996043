using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

// Checkpointing the windows: the whole state the stage carries from one batch to the next, written so that a stage
// read back from it goes on exactly as this one would, whatever batches follow.
public sealed partial class DownsampleStage
{
    /// <summary>Version of what a snapshot holds; a reader refuses any other.</summary>
    public const byte SnapshotFormat = 1;

    private const int MaxTiersInSnapshot = 1024;
    private WindowSnapshot? _snapshot;

    /// <summary>
    /// Starts a snapshot of the state as it is now: the interned names its windows use, each tier's clocks, and every
    /// window (open, or written and still within its lateness) with its field states, sketches and flags. Writes the
    /// names, clocks and window groups now; the windows follow through <see cref="WindowSnapshot.WriteSome"/>, while
    /// batches may be processed in between. Call between batches. Costs no allocation per window.
    /// </summary>
    /// <exception cref="InvalidOperationException">A snapshot is already being written.</exception>
    public WindowSnapshot BeginSnapshot(StateWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (_snapshot is not null) throw new InvalidOperationException("a snapshot is already being written");
        return _snapshot = new WindowSnapshot(this, _catalog, _tiers, writer);
    }

    /// <summary>Whether a snapshot begun is not complete or given up yet.</summary>
    public bool SnapshotInProgress => _snapshot is not null;

    /// <summary>Writes a whole snapshot now (<see cref="BeginSnapshot"/> and every window at once).</summary>
    public void WriteSnapshot(StateWriter writer) => BeginSnapshot(writer).Complete();

    internal void SnapshotEnded(WindowSnapshot snapshot)
    {
        if (ReferenceEquals(_snapshot, snapshot)) _snapshot = null;
    }

    /// <summary>
    /// A stage for <paramref name="options"/> holding the state a snapshot recorded. A tier is matched by name; one whose
    /// interval, lateness or source changed since, or that is no longer configured, is left out, and so is a window's
    /// percentile sketch that was not kept then: each is described in <paramref name="notes"/>. The reader's checksum is
    /// not checked here: keep the stage only once <see cref="StateReader.Complete"/> has passed.
    /// </summary>
    /// <exception cref="FormatException">The snapshot is not one this version wrote, or is damaged.</exception>
    public static DownsampleStage ReadSnapshot(DownsampleOptions options, StateReader reader, out IReadOnlyList<string> notes) =>
        ReadSnapshot(options, reader, out notes, restore: null);

    /// <summary>
    /// <see cref="ReadSnapshot(DownsampleOptions, StateReader, out IReadOnlyList{string})"/> restoring only the tiers
    /// <paramref name="restore"/> accepts by name (null: every tier that can be); the others start empty, as new ones do.
    /// </summary>
    internal static DownsampleStage ReadSnapshot(DownsampleOptions options, StateReader reader, out IReadOnlyList<string> notes, Func<string, bool>? restore)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var stage = new DownsampleStage(options);
        var said = new List<string>();
        byte format = reader.ReadByte();
        if (format != SnapshotFormat) throw new FormatException($"snapshot: window state format {format}, this version reads {SnapshotFormat}");
        var (databases, fields) = stage._catalog.ReadSnapshotNames(reader);

        var restored = new HashSet<string>(StringComparer.Ordinal);
        var targets = new TierState.SnapshotTarget[reader.ReadCount(MaxTiersInSnapshot, "tier count")];
        for (int t = 0; t < targets.Length; t++)
        {
            var header = TierSnapshotHeader.Read(reader);
            var tier = stage._tiers.FirstOrDefault(x => x.Settings.Name == header.Name);
            if (tier is not null && !restored.Add(header.Name)) throw new FormatException($"snapshot: tier '{header.Name}' appears twice");
            if (tier is not null && restore is not null && !restore(header.Name))
            {
                said.Add($"tier '{header.Name}' was not to be restored: its windows were dropped");
                tier = null;
            }
            else if (tier is null) said.Add($"tier '{header.Name}' is no longer configured: its windows were dropped");
            else if (tier.SnapshotHeader with { KeepSketch = header.KeepSketch } != header)
            {
                said.Add($"tier '{header.Name}' changed since the snapshot (was interval {header.Interval} ns, lateness {header.Lateness} ns, " +
                         $"source '{header.Source}'): its windows were dropped");
                tier = null;
            }
            targets[t] = TierState.ReadSnapshotStart(tier, header, reader);
        }

        var series = new List<int>();
        var scratch = new LogSketch();
        for (ulong number; (number = reader.ReadVarint()) != 0;)
        {
            if (number > (ulong)targets.Length) throw new FormatException($"snapshot: a window of tier number {number - 1}, of {targets.Length}");
            var target = targets[(int)number - 1];
            int ordinal = reader.ReadCount(target.Windows, "window number");
            ulong reference = reader.ReadVarint();
            int id;
            if (reference == 0) series.Add(id = stage._catalog.ReadSnapshotSeries(reader, databases));
            else if (reference <= (ulong)series.Count) id = series[(int)reference - 1];
            else throw new FormatException($"snapshot: series number {reference - 1} before it was written");
            bool emitted = reader.ReadBool();
            TierState.ReadSnapshotWindow(target, reader, id, emitted, ordinal, fields, scratch);
        }
        foreach (var target in targets)
        {
            target.Finish();
            if (target.WithoutSketch > 0)
                said.Add($"tier '{target.Header.Name}': {target.WithoutSketch} field states had no percentile sketch in the snapshot; those windows are written without percentiles");
        }
        foreach (var tier in stage._tiers)
        {
            if (!restored.Contains(tier.Settings.Name)) said.Add($"tier '{tier.Settings.Name}' is new since the snapshot: it starts empty");
        }
        stage._catalog.ReleaseUnheld(series);
        notes = said;
        return stage;
    }
}
