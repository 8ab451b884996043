using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

/// <summary>A tier's settings as a snapshot records them: its windows are only usable by a tier with the same ones.</summary>
internal readonly record struct TierSnapshotHeader(string Name, long Interval, long Lateness, string Source, bool KeepSketch)
{
    public static TierSnapshotHeader Read(StateReader reader) =>
        new(reader.ReadString(), reader.ReadSigned(), reader.ReadSigned(), reader.ReadString(), reader.ReadBool());
}

// A tier in a snapshot: its clocks, then its window groups in order, each window with its flags and its field
// states in their output order. Taken between two batches, when no window waits in the re-emission queue.
internal sealed partial class TierState
{
    public TierSnapshotHeader SnapshotHeader => new(Settings.Name, Interval, Lateness, Source?.Settings.Name ?? "", KeepSketch);

    public void WriteSnapshot(StateWriter writer, KeyCatalog.Numbering numbers)
    {
        var header = SnapshotHeader;
        writer.WriteString(header.Name);
        writer.WriteSigned(header.Interval);
        writer.WriteSigned(header.Lateness);
        writer.WriteString(header.Source);
        writer.WriteBool(header.KeepSketch);
        foreach (long clock in (ReadOnlySpan<long>)[Watermark, ClosedBefore, _quietWatermark, _quietClosedBefore, _pendingWatermark, _pendingAfter])
            writer.WriteSigned(clock);

        writer.WriteVarint((ulong)_groups.Count);
        foreach (var group in _groups)
        {
            writer.WriteSigned(group.Start);
            writer.WriteBool(group.Emitted);
            writer.WriteSigned(group.FirstSequence);
            writer.WriteVarint((ulong)group.Count);
            for (int i = 0; i < group.Count; i++)
            {
                ref var w = ref _windows[group.Members[i]];
                writer.WriteVarint((ulong)numbers.Series[w.Series]);
                writer.WriteBool(w.Is(SeriesWindow.EmittedFlag));
                for (int f = w.FirstField; f >= 0; f = _fields[f].Next)
                {
                    ref var state = ref _fields[f];
                    // Field numbers are written plus one, so that 0 ends the window's list.
                    writer.WriteVarint((ulong)numbers.Fields[state.FieldId] + 1);
                    writer.WriteVarint((ulong)state.Count);
                    writer.WriteDouble(state.Sum);
                    writer.WriteDouble(state.Min);
                    writer.WriteDouble(state.Max);
                    writer.WriteDouble(state.First);
                    writer.WriteDouble(state.Last);
                    // Relative to the window: short, and wrapping arithmetic brings any value back exactly.
                    writer.WriteSigned(unchecked(state.FirstTime - group.Start));
                    writer.WriteSigned(unchecked(state.LastTime - group.Start));
                    if (!KeepSketch) continue;
                    writer.WriteBool(state.Sketch is not null);
                    state.Sketch?.Write(writer);
                }
                writer.WriteVarint(0);
            }
        }
    }

    /// <summary>
    /// Reads the clocks and windows a <see cref="WriteSnapshot"/> of a tier with <paramref name="header"/> wrote,
    /// into <paramref name="into"/> (an empty tier with the same interval, lateness and source), or only past them
    /// when null. Gives the number of field states restored without the sketch this tier needs.
    /// </summary>
    public static long ReadSnapshot(TierState? into, TierSnapshotHeader header, StateReader reader, int[] series, int[] fields, LogSketch scratch)
    {
        Span<long> clocks = stackalloc long[6];
        for (int i = 0; i < clocks.Length; i++) clocks[i] = reader.ReadSigned();
        if (into is not null)
        {
            into.Watermark = clocks[0];
            into.ClosedBefore = clocks[1];
            into._quietWatermark = clocks[2];
            into._quietClosedBefore = clocks[3];
            into._pendingWatermark = clocks[4];
            into._pendingAfter = clocks[5];
        }

        long withoutSketch = 0;
        int groups = reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining + 1), "window group count");
        long previousStart = long.MinValue;
        for (int g = 0; g < groups; g++)
        {
            long start = reader.ReadSigned();
            bool emitted = reader.ReadBool();
            long firstSequence = reader.ReadSigned();
            int members = reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining + 1), "window count");
            if (g > 0 && start <= previousStart) throw new FormatException($"snapshot: tier '{header.Name}' has window groups out of order ({start} after {previousStart})");
            previousStart = start;
            WindowGroup? group = null;
            if (into is not null)
            {
                if (!into.TryWindowStart(start, out long aligned) || aligned != start)
                    throw new FormatException($"snapshot: tier '{header.Name}' has a window starting at {start}, not on its interval");
                group = into.GroupFor(start);
                group.FirstSequence = firstSequence;
            }
            for (int m = 0; m < members; m++)
            {
                int id = series[reader.ReadCount(series.Length, "series number")];
                bool windowEmitted = reader.ReadBool();
                int window = -1;
                if (into is not null)
                {
                    if (into.FindWindow(id, start) >= 0) throw new FormatException($"snapshot: tier '{header.Name}' holds a window twice");
                    window = into.NewWindow(id, start);
                    group!.Add(window);
                    if (windowEmitted) into._windows[window].Flags |= SeriesWindow.EmittedFlag;
                }
                withoutSketch += ReadFields(into, window, header, reader, fields, scratch, start);
            }
            // Set once the members are in: a window added to an emitted group would be queued to be written.
            if (group is not null) group.Emitted = emitted;
        }
        return withoutSketch;
    }

    private static long ReadFields(TierState? into, int window, TierSnapshotHeader header, StateReader reader, int[] fields, LogSketch scratch, long start)
    {
        long withoutSketch = 0;
        int last = -1;
        for (ulong number; (number = reader.ReadVarint()) != 0;)
        {
            if (number > (ulong)fields.Length) throw new FormatException($"snapshot: field number {number - 1} is out of range (below {fields.Length} expected)");
            int fieldId = fields[(int)number - 1];
            var state = new FieldState
            {
                FieldId = fieldId,
                Next = -1,
                Count = (long)reader.ReadVarint(),
                Sum = reader.ReadDouble(),
                Min = reader.ReadDouble(),
                Max = reader.ReadDouble(),
                First = reader.ReadDouble(),
                Last = reader.ReadDouble(),
                FirstTime = unchecked(start + reader.ReadSigned()),
                LastTime = unchecked(start + reader.ReadSigned()),
            };
            bool hasSketch = header.KeepSketch && reader.ReadBool();
            // A field no tier takes any more is read past, as is everything of a tier not restored.
            if (into is null || fieldId < 0)
            {
                if (hasSketch) { scratch.Read(reader); scratch.Clear(); }
                continue;
            }
            int slot = into.AllocateField(fieldId);
            var sketch = into._fields[slot].Sketch;
            state.Sketch = sketch;
            if (hasSketch)
            {
                if (sketch is not null) sketch.Read(reader);
                else { scratch.Read(reader); scratch.Clear(); }
            }
            else if (sketch is not null)
            {
                // The snapshot has no sketch for it (percentiles were added since): this window writes none rather than
                // percentiles of the points after the restart only.
                into._sketches.Push(sketch);
                state.Sketch = null;
                withoutSketch++;
            }
            into._fields[slot] = state;
            ref var w = ref into._windows[window];
            if (last < 0) w.FirstField = slot;
            else into._fields[last].Next = slot;
            last = slot;
        }
        return withoutSketch;
    }
}
