using System.Buffers;
using System.Diagnostics;
using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

/// <summary>A tier's settings as a snapshot records them: its windows are only usable by a tier with the same ones.</summary>
internal readonly record struct TierSnapshotHeader(string Name, long Interval, long Lateness, string Source, bool KeepSketch)
{
    public static TierSnapshotHeader Read(StateReader reader) =>
        new(reader.ReadString(), reader.ReadSigned(), reader.ReadSigned(), reader.ReadString(), reader.ReadBool());
}

// A tier in a snapshot. At the start: its settings, clocks (replay ones too) and window groups, each with its start,
// flags and number of windows. Then its windows, one record each, in any order (a window about to change is written
// ahead of its turn): its place among the tier's windows, its series, flags, and its field states in output order.
internal sealed partial class TierState
{
    /// <summary>The snapshot being written, while one is.</summary>
    public WindowSnapshot? Snapshot { get; set; }

    private int[]? _snapshotSlots;
    private int _snapshotCount, _snapshotCursor;

    public TierSnapshotHeader SnapshotHeader => new(Settings.Name, Interval, Lateness, Source?.Settings.Name ?? "", KeepSketch);

    /// <summary>Writes the tier's settings, clocks and groups, and marks its windows as owed to the snapshot; gives their number.</summary>
    public int BeginSnapshot(WindowSnapshot snapshot)
    {
        var writer = snapshot.Writer;
        var header = SnapshotHeader;
        writer.WriteString(header.Name);
        writer.WriteSigned(header.Interval);
        writer.WriteSigned(header.Lateness);
        writer.WriteString(header.Source);
        writer.WriteBool(header.KeepSketch);
        foreach (long clock in (ReadOnlySpan<long>)[Watermark, ClosedBefore, _quietWatermark, _quietClosedBefore, _pendingWatermark, _pendingAfter])
            writer.WriteSigned(clock);

        int total = 0;
        foreach (var group in _groups) total += group.Count;
        _snapshotSlots = ArrayPool<int>.Shared.Rent(Math.Max(1, total));
        _snapshotCount = 0;
        _snapshotCursor = 0;
        writer.WriteVarint((ulong)_groups.Count);
        foreach (var group in _groups)
        {
            writer.WriteSigned(group.Start);
            writer.WriteBool(group.Emitted);
            writer.WriteSigned(group.FirstSequence);
            writer.WriteVarint((ulong)group.Count);
            for (int i = 0; i < group.Count; i++)
            {
                int window = group.Members[i];
                ref var w = ref _windows[window];
                // Between batches nothing waits in the re-emission queue, so the flags are the window's whole story.
                Debug.Assert(!w.Is(SeriesWindow.QueuedFlag));
                w.Flags |= SeriesWindow.SnapshotFlag;
                w.SnapshotOrdinal = _snapshotCount;
                _snapshotSlots[_snapshotCount++] = window;
            }
        }
        Snapshot = snapshot;
        return _snapshotCount;
    }

    /// <summary>
    /// Writes the owed windows in order until all are written (true), the clock passes <paramref name="until"/> or
    /// <paramref name="allowance"/> (counted down) runs out.
    /// </summary>
    public bool WriteSnapshotWindows(long until, ref int allowance)
    {
        var slots = _snapshotSlots;
        if (slots is null) return true;
        while (_snapshotCursor < _snapshotCount)
        {
            if (allowance <= 0) return false;
            // A slot written early may since hold a new window, which is not owed (its flag is clear).
            int window = slots[_snapshotCursor];
            if (_windows[window].Is(SeriesWindow.SnapshotFlag) && _windows[window].SnapshotOrdinal == _snapshotCursor)
            {
                WriteSnapshotWindow(window, early: false);
                allowance--;
            }
            if (++_snapshotCursor % 64 == 0 && _snapshotCursor < _snapshotCount && Stopwatch.GetTimestamp() >= until) return false;
        }
        return Finish();

        bool Finish()
        {
            ArrayPool<int>.Shared.Return(slots);
            _snapshotSlots = null;
            return true;
        }
    }

    /// <summary>Clears what a snapshot given up left on the windows.</summary>
    public void EndSnapshot()
    {
        if (_snapshotSlots is { } slots)
        {
            for (int k = _snapshotCursor; k < _snapshotCount; k++)
            {
                ref var w = ref _windows[slots[k]];
                if (w.Is(SeriesWindow.SnapshotFlag) && w.SnapshotOrdinal == k) w.Flags &= unchecked((byte)~SeriesWindow.SnapshotFlag);
            }
            ArrayPool<int>.Shared.Return(slots);
            _snapshotSlots = null;
        }
        Snapshot = null;
    }

    /// <summary>Writes a window the snapshot is owed, as it is now, and clears its mark.</summary>
    private void WriteSnapshotWindow(int window, bool early = true)
    {
        var snapshot = Snapshot!;
        var writer = snapshot.Writer;
        ref var w = ref _windows[window];
        w.Flags &= unchecked((byte)~SeriesWindow.SnapshotFlag);
        writer.WriteVarint((ulong)Index + 1);
        writer.WriteVarint((ulong)w.SnapshotOrdinal);
        snapshot.WriteSeries(w.Series);
        writer.WriteBool(w.Is(SeriesWindow.EmittedFlag));
        var numbers = snapshot.FieldNumbers;
        for (int f = w.FirstField; f >= 0; f = _fields[f].Next)
        {
            ref var state = ref _fields[f];
            // Field numbers are written plus one, so that 0 ends the window's list.
            writer.WriteVarint((ulong)numbers[state.FieldId] + 1);
            writer.WriteVarint((ulong)state.Count);
            writer.WriteDouble(state.Sum);
            writer.WriteDouble(state.Min);
            writer.WriteDouble(state.Max);
            writer.WriteDouble(state.First);
            writer.WriteDouble(state.Last);
            // Relative to the window: short, and wrapping arithmetic brings any value back exactly.
            writer.WriteSigned(unchecked(state.FirstTime - w.Start));
            writer.WriteSigned(unchecked(state.LastTime - w.Start));
            if (!KeepSketch) continue;
            writer.WriteBool(state.Sketch is not null);
            state.Sketch?.Write(writer);
        }
        writer.WriteVarint(0);
        snapshot.Written++;
        if (early) snapshot.WrittenEarly++;
    }

    /// <summary>A tier's part of a snapshot being read: where its windows go, by their place among the tier's windows.</summary>
    internal sealed class SnapshotTarget(TierState? tier, TierSnapshotHeader header, WindowGroup[] groups, int[] firstOrdinals, long[] starts, int windows)
    {
        public TierState? Tier { get; } = tier;
        public TierSnapshotHeader Header { get; } = header;
        public int Windows { get; } = windows;
        public int Read { get; set; }
        public long WithoutSketch { get; set; }

        /// <summary>The group and the position in it of the window at <paramref name="ordinal"/>, and the group's start.</summary>
        public (WindowGroup? Group, int Position, long Start) Locate(int ordinal)
        {
            int g = Array.BinarySearch(firstOrdinals, ordinal);
            if (g < 0) g = ~g - 1;
            // Empty groups share their first ordinal with the next: the window belongs to the last of them.
            while (g + 1 < firstOrdinals.Length && firstOrdinals[g + 1] == ordinal) g++;
            return (groups.Length > 0 ? groups[g] : null, ordinal - firstOrdinals[g], starts[g]);
        }

        public void Finish()
        {
            if (Read != Windows) throw new FormatException($"snapshot: tier '{Header.Name}' has {Read} of its {Windows} windows");
            if (Tier is null) return;
            for (int g = 0; g < groups.Length; g++) groups[g].Count = (g + 1 < firstOrdinals.Length ? firstOrdinals[g + 1] : Windows) - firstOrdinals[g];
        }
    }

    /// <summary>
    /// Reads the clocks and groups a <see cref="BeginSnapshot"/> of a tier with <paramref name="header"/> wrote, into
    /// <paramref name="into"/> (an empty tier with the same interval, lateness and source), or only past them when null.
    /// </summary>
    public static SnapshotTarget ReadSnapshotStart(TierState? into, TierSnapshotHeader header, StateReader reader)
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

        int count = reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining / 4 + 1), "window group count");
        var groups = new WindowGroup[into is null ? 0 : count];
        var firstOrdinals = new int[count];
        var starts = new long[count];
        long windows = 0;
        for (int g = 0; g < count; g++)
        {
            long start = reader.ReadSigned();
            bool emitted = reader.ReadBool();
            long firstSequence = reader.ReadSigned();
            int members = reader.ReadCount((int)Math.Min(int.MaxValue, reader.Remaining + 1), "window count");
            if (g > 0 && start <= starts[g - 1]) throw new FormatException($"snapshot: tier '{header.Name}' has window groups out of order ({start} after {starts[g - 1]})");
            starts[g] = start;
            firstOrdinals[g] = (int)windows;
            windows += members;
            if (windows > reader.Remaining) throw new FormatException($"snapshot: tier '{header.Name}' claims more windows than the file holds");
            if (into is null) continue;
            if (!into.TryWindowStart(start, out long aligned) || aligned != start)
                throw new FormatException($"snapshot: tier '{header.Name}' has a window starting at {start}, not on its interval");
            var group = into.GroupFor(start);
            group.Emitted = emitted;
            group.FirstSequence = firstSequence;
            group.Presize(members);
            groups[g] = group;
        }
        return new SnapshotTarget(into, header, groups, firstOrdinals, starts, (int)windows);
    }

    /// <summary>Reads one window record (after its tier number) into its place.</summary>
    public static void ReadSnapshotWindow(SnapshotTarget target, StateReader reader, int series, bool emitted, int ordinal, int[] fields, LogSketch scratch)
    {
        var into = target.Tier;
        var (group, position, start) = target.Locate(ordinal);
        int window = -1;
        if (into is not null)
        {
            if (group!.Members[position] >= 0) throw new FormatException($"snapshot: tier '{target.Header.Name}' holds window {ordinal} twice");
            if (into.FindWindow(series, start) >= 0) throw new FormatException($"snapshot: tier '{target.Header.Name}' holds a series twice in one window");
            window = into.NewWindow(series, start);
            group.Members[position] = window;
            if (emitted) into._windows[window].Flags |= SeriesWindow.EmittedFlag;
        }
        target.Read++;
        target.WithoutSketch += ReadFields(into, window, target.Header, reader, fields, scratch, start);
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
