using System.Runtime.CompilerServices;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// The per-run state of one tier: open series windows in a chained hash table keyed by (series, window start),
/// their field states in a slab, both reusing slots through free lists, and the windows grouped by start.
/// Single-threaded, like the stage that owns it.
/// </summary>
internal sealed partial class TierState
{
    private readonly KeyCatalog _catalog;
    private SeriesWindow[] _windows = new SeriesWindow[1024];
    private int _windowsUsed;
    private int _freeWindow = -1;
    private int[] _buckets = NewBuckets(2048);
    private FieldState[] _fields = new FieldState[2048];
    private int _fieldsUsed;
    private int _freeField = -1;
    private readonly Stack<LogSketch> _sketches = new();
    private readonly List<WindowGroup> _groups = [];
    private readonly Stack<WindowGroup> _spareGroups = new();
    private int[] _queue = new int[256];
    private int _queued;
    private int[] _seriesWindows = new int[1024]; // open windows per series id, for ActiveSeries
    private int[] _latest = new int[1024];        // last window used per series id (checked before use)

    public TierState(int index, DownsampleTier settings, KeyCatalog catalog, TierState? source)
    {
        Index = index;
        Settings = settings;
        _catalog = catalog;
        Source = source;
        Interval = settings.Interval.Ticks * TimeSpan.NanosecondsPerTick;
        // A tier fed by a source sees a source window only once it is final, so it waits out the source's lateness.
        Lateness = source?.Lateness ?? settings.AllowedLateness.Ticks * TimeSpan.NanosecondsPerTick;
        Aggregates = DownsampleOptions.ParseAggregates(settings.Aggregates);
        Output = new TierOutput(settings, Aggregates);
    }

    public int Index { get; }
    public DownsampleTier Settings { get; }
    public TierState? Source { get; }
    public List<TierState> Derived { get; } = [];
    public long Interval { get; }
    public long Lateness { get; }
    public Aggregates Aggregates { get; }
    public TierOutput Output { get; }

    /// <summary>Set when this tier or one fed from it writes percentiles.</summary>
    public bool KeepSketch { get; set; }

    /// <summary>Largest event time seen by the tier (its source's, for a derived tier).</summary>
    public long Watermark = long.MinValue;

    /// <summary>Windows starting before this were closed by a flush; points for them count as late.</summary>
    public long ClosedBefore = long.MinValue;

    public long WindowsEmitted;
    public long WindowsReemitted;
    public long PointsAggregated;
    public long PointsDroppedLate;
    public long PointsOutOfRange;
    public int ActiveSeries;
    public int OpenWindows;

    public long EstimatedBytes =>
        (long)_windows.Length * Unsafe.SizeOf<SeriesWindow>() + _buckets.Length * 4L
        + (long)_fields.Length * Unsafe.SizeOf<FieldState>() + _seriesWindows.Length * 8L + SketchBytes();

    /// <summary>Start of the epoch-aligned window holding <paramref name="time"/>; false if it would not fit in a long.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWindowStart(long time, out long start)
    {
        long offset = time % Interval;
        if (offset < 0) offset += Interval;
        start = time - offset;
        return time >= long.MinValue + offset && start <= long.MaxValue - Interval;
    }

    /// <summary>
    /// Whether a point for the window starting at <paramref name="start"/> comes too late: the watermark has
    /// passed the window's end plus the allowed lateness (so its state is gone), or a flush closed it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLate(long start) => Watermark >= SaturatingAdd(start + Interval, Lateness) || start < ClosedBefore;

    public static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    // Replay after a restart: windows that were closed at the checkpoint are rebuilt (a tier fed from this one may
    // still need their states) but not written again, since only part of their points are replayed.
    private long _quietWatermark = long.MinValue;
    private long _quietClosedBefore = long.MinValue;
    private long _pendingWatermark = long.MinValue;
    private long _pendingAfter = long.MaxValue;

    /// <summary>Writes skipped during a replay because their window was already final at the checkpoint.</summary>
    public long WritesSuppressed;

    /// <summary>
    /// Prepares a replay from a checkpoint taken when this tier's clock was (<paramref name="watermark"/>,
    /// <paramref name="closedBefore"/>) after batch <paramref name="checkpointSequence"/>: windows final at that
    /// moment are not written again, flushed windows refuse points at once, and the watermark catches up with
    /// the checkpoint's once the replay passes that batch, so that later points are judged late as they were.
    /// </summary>
    public void RestoreClock(long watermark, long closedBefore, long checkpointSequence)
    {
        _quietWatermark = watermark;
        _quietClosedBefore = closedBefore;
        ClosedBefore = Math.Max(ClosedBefore, closedBefore);
        _pendingWatermark = watermark;
        _pendingAfter = checkpointSequence;
    }

    private bool IsQuiet(long start) =>
        start < _quietClosedBefore || SaturatingAdd(SaturatingAdd(start, Interval), Lateness) <= _quietWatermark;

    /// <summary>Sequence of the batch being aggregated; <see cref="FindOrAddWindow"/> records it in the window's group.</summary>
    public long Sequence { get; private set; }

    private long _sequenceNotedFor = long.MinValue;

    /// <summary>Starts a batch: every group it touches will hold <paramref name="sequence"/> as needed.</summary>
    public void BeginBatch(long sequence)
    {
        Sequence = sequence;
        _sequenceNotedFor = long.MinValue;
        if (sequence > _pendingAfter)
        {
            Watermark = Math.Max(Watermark, _pendingWatermark);
            _pendingAfter = long.MaxValue;
        }
    }

    /// <summary>
    /// The lowest batch sequence that still has values in a window of this tier (open or within its lateness),
    /// <see cref="long.MaxValue"/> when none: a log replayed from there rebuilds every such window whole.
    /// </summary>
    public long OldestSequence
    {
        get
        {
            long oldest = long.MaxValue;
            foreach (var group in _groups) oldest = Math.Min(oldest, group.FirstSequence);
            return oldest;
        }
    }

    /// <summary>The open window of (<paramref name="series"/>, <paramref name="start"/>), created if needed.</summary>
    public int FindOrAddWindow(int series, long start)
    {
        // Points of a batch mostly share a window start: note the batch in that group once, not per point.
        if (start != _sequenceNotedFor)
        {
            NoteSequence(GroupFor(start), Sequence);
            _sequenceNotedFor = start;
        }
        // Most points go to their series' newest window: remembering it per series skips a hash probe (a cache miss).
        if (series < _latest.Length)
        {
            int latest = _latest[series];
            if (latest >= 0 && _windows[latest].Series == series && _windows[latest].Start == start && _windows[latest].Is(SeriesWindow.LiveFlag))
                return latest;
        }
        else Array.Resize(ref _latest, Math.Max(_latest.Length * 2, series + 1));
        int window = FindOrAddWindowSlow(series, start);
        _latest[series] = window;
        return window;
    }

    private int FindOrAddWindowSlow(int series, long start)
    {
        int window = FindWindow(series, start);
        return window >= 0 ? window : AddWindow(series, start);
    }

    /// <summary>Adds a point's value to a field of an open window, queueing the window for re-emission if already written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int window, int field, double value, long time)
    {
        ref var w = ref _windows[window];
        // A snapshot in progress takes the window as it was before this point.
        if ((w.Flags & SeriesWindow.SnapshotFlag) != 0) WriteSnapshotWindow(window);
        FieldFor(ref w, field).Add(value, time);
        if ((w.Flags & (SeriesWindow.EmittedFlag | SeriesWindow.QueuedFlag)) == SeriesWindow.EmittedFlag) Enqueue(window, ref w);
    }

    /// <summary>Merges a final source window's field state into this tier; false when a flush already closed the window.</summary>
    public bool Merge(int series, long sourceStart, in FieldState state, long sequence)
    {
        TryWindowStart(sourceStart, out long start);
        if (start < ClosedBefore) return false;
        NoteSequence(GroupFor(start), sequence);
        int window = FindWindow(series, start);
        if (window < 0) window = AddWindow(series, start);
        ref var w = ref _windows[window];
        if ((w.Flags & SeriesWindow.SnapshotFlag) != 0) WriteSnapshotWindow(window);
        FieldFor(ref w, state.FieldId).Merge(state);
        if ((w.Flags & (SeriesWindow.EmittedFlag | SeriesWindow.QueuedFlag)) == SeriesWindow.EmittedFlag) Enqueue(window, ref w);
        return true;
    }

    public int FindWindow(int series, long start)
    {
        for (int i = _buckets[Bucket(series, start)]; i >= 0; i = _windows[i].HashNext)
        {
            if (_windows[i].Series == series && _windows[i].Start == start) return i;
        }
        return -1;
    }

    private ref FieldState FieldFor(ref SeriesWindow w, int field)
    {
        int last = -1;
        for (int f = w.FirstField; f >= 0; f = _fields[f].Next)
        {
            if (_fields[f].FieldId == field) return ref _fields[f];
            last = f;
        }
        int slot = AllocateField(field);
        // Appended, so output fields keep the order in which they first arrived.
        if (last < 0) w.FirstField = slot;
        else _fields[last].Next = slot;
        return ref _fields[slot];
    }

    private int AllocateField(int field)
    {
        int slot;
        if (_freeField >= 0) { slot = _freeField; _freeField = _fields[slot].Next; }
        else
        {
            if (_fieldsUsed == _fields.Length) Array.Resize(ref _fields, _fields.Length * 2);
            slot = _fieldsUsed++;
        }
        _fields[slot].Reset(field, KeepSketch ? (_sketches.Count > 0 ? _sketches.Pop() : new LogSketch()) : null);
        return slot;
    }

    private int AddWindow(int series, long start)
    {
        int slot = NewWindow(series, start);
        var group = GroupFor(start);
        group.Add(slot);
        // A series first seen in a window already written still has to be written.
        if (group.Emitted) Enqueue(slot, ref _windows[slot]);
        return slot;
    }

    /// <summary>A live window slot for (<paramref name="series"/>, <paramref name="start"/>), in the hash table but in no group yet.</summary>
    private int NewWindow(int series, long start)
    {
        int slot;
        if (_freeWindow >= 0) { slot = _freeWindow; _freeWindow = _windows[slot].HashNext; }
        else
        {
            if (_windowsUsed == _windows.Length) Array.Resize(ref _windows, _windows.Length * 2);
            slot = _windowsUsed++;
        }
        if (++OpenWindows > _buckets.Length / 2) Rehash(_buckets.Length * 2);
        int bucket = Bucket(series, start);
        _windows[slot] = new SeriesWindow { Series = series, Start = start, FirstField = -1, HashNext = _buckets[bucket], Flags = SeriesWindow.LiveFlag };
        _buckets[bucket] = slot;

        if (series >= _seriesWindows.Length) Array.Resize(ref _seriesWindows, Math.Max(_seriesWindows.Length * 2, series + 1));
        if (_seriesWindows[series]++ == 0) ActiveSeries++;
        _catalog.AddRef(series);
        return slot;
    }

    private static void NoteSequence(WindowGroup group, long sequence)
    {
        if (sequence < group.FirstSequence) group.FirstSequence = sequence;
    }

    private WindowGroup GroupFor(long start)
    {
        int i = _groups.Count - 1;
        // Groups are kept sorted by start; new points usually hit the newest one.
        while (i >= 0 && _groups[i].Start > start) i--;
        if (i >= 0 && _groups[i].Start == start) return _groups[i];
        var group = _spareGroups.Count > 0 ? _spareGroups.Pop() : new WindowGroup();
        group.Reset(start, start + Interval);
        _groups.Insert(i + 1, group);
        return group;
    }

    private void Enqueue(int window, ref SeriesWindow w)
    {
        w.Flags |= SeriesWindow.QueuedFlag;
        if (_queued == _queue.Length) Array.Resize(ref _queue, _queue.Length * 2);
        _queue[_queued++] = window;
    }

    private void Rehash(int size)
    {
        _buckets = NewBuckets(size);
        for (int i = 0; i < _windowsUsed; i++)
        {
            ref var w = ref _windows[i];
            if (!w.Is(SeriesWindow.LiveFlag)) continue;
            int bucket = Bucket(w.Series, w.Start);
            w.HashNext = _buckets[bucket];
            _buckets[bucket] = i;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Bucket(int series, long start)
    {
        ulong h = ((ulong)(uint)series * 0x9E3779B97F4A7C15UL) ^ ((ulong)start * 0xC2B2AE3D27D4EB4FUL);
        h ^= h >> 29;
        return (int)(h & (ulong)(_buckets.Length - 1));
    }

    // Safe to call from a metrics thread: it reads a snapshot of the slab and never enumerates the pool.
    private long SketchBytes()
    {
        if (!KeepSketch) return 0;
        var fields = _fields;
        int used = Math.Min(_fieldsUsed, fields.Length);
        long bytes = _sketches.Count * (64L + 2 * (16 + 16 * sizeof(int)));
        for (int i = 0; i < used; i++) bytes += fields[i].Sketch?.EstimatedBytes ?? 0;
        return bytes;
    }

    private static int[] NewBuckets(int size)
    {
        var buckets = new int[size];
        buckets.AsSpan().Fill(-1);
        return buckets;
    }
}
