namespace Ingest.Transforms.Downsample;

internal sealed partial class TierState
{
    /// <summary>
    /// Writes every window whose end the watermark has reached (the first emission), re-writes each window
    /// updated since it was written (once per call however many late points it took), then closes the windows
    /// past end + lateness: their states go to the tiers fed from this one and their slots back to the free lists.
    /// With <paramref name="flush"/>, everything open is written and closed now.
    /// </summary>
    public void Advance(OutputBatches output, bool flush)
    {
        // A derived tier's windows only change until its source's lateness has run out; write them after that.
        long emitDelay = Source is null ? 0 : Lateness;
        foreach (var group in _groups)
        {
            if (group.Emitted || !(flush || SaturatingAdd(group.End, emitDelay) <= Watermark)) continue;
            for (int i = 0; i < group.Count; i++)
            {
                int window = group.Members[i];
                if (_windows[window].Is(SeriesWindow.QueuedFlag)) continue; // written from the queue below
                Write(window, output);
            }
            group.Emitted = true;
        }

        for (int i = 0; i < _queued; i++)
        {
            int window = _queue[i];
            ref var w = ref _windows[window];
            if (!w.Is(SeriesWindow.QueuedFlag)) continue;
            w.Flags &= unchecked((byte)~SeriesWindow.QueuedFlag);
            Write(window, output);
        }
        _queued = 0;

        while (_groups.Count > 0 && (flush || SaturatingAdd(_groups[0].End, Lateness) <= Watermark))
        {
            var group = _groups[0];
            _groups.RemoveAt(0);
            if (flush) ClosedBefore = Math.Max(ClosedBefore, group.End);
            Close(group);
        }
    }

    private void Close(WindowGroup group)
    {
        for (int i = 0; i < group.Count; i++)
        {
            int window = group.Members[i];
            ref var w = ref _windows[window];
            if ((w.Flags & SeriesWindow.SnapshotFlag) != 0) WriteSnapshotWindow(window); // before it is gone
            int series = w.Series;
            for (int f = w.FirstField; f >= 0;)
            {
                ref var state = ref _fields[f];
                foreach (var derived in Derived)
                {
                    if (((_catalog.SeriesMask(series) & _catalog.FieldMask(state.FieldId)) >> derived.Index & 1) == 0) continue;
                    if (!derived.Merge(series, w.Start, state, group.FirstSequence)) derived.PointsDroppedLate += state.Count;
                }
                int next = state.Next;
                FreeField(f);
                f = next;
            }
            Unlink(window);
            _catalog.Release(series);
        }
        group.Count = 0;
        _spareGroups.Push(group);
    }

    private void FreeField(int slot)
    {
        ref var state = ref _fields[slot];
        if (state.Sketch is { } sketch)
        {
            sketch.Clear();
            _sketches.Push(sketch);
            state.Sketch = null;
        }
        state.Next = _freeField;
        _freeField = slot;
    }

    private void Unlink(int window)
    {
        ref var w = ref _windows[window];
        int bucket = Bucket(w.Series, w.Start);
        if (_buckets[bucket] == window) _buckets[bucket] = w.HashNext;
        else
        {
            int i = _buckets[bucket];
            while (_windows[i].HashNext != window) i = _windows[i].HashNext;
            _windows[i].HashNext = w.HashNext;
        }
        if (--_seriesWindows[w.Series] == 0) ActiveSeries--;
        OpenWindows--;
        w.Flags = 0;
        w.HashNext = _freeWindow;
        _freeWindow = window;
    }
}
