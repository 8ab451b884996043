namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    // Consumers by name: registered ones and ones only known from checkpoints.json. Guarded by _consumersLock.
    private readonly Lock _consumersLock = new();
    private readonly Dictionary<string, ConsumerState> _consumers = new(StringComparer.Ordinal);
    private bool _checkpointsDirty;
    private long _persistedNextSequence;

    // Serializes writes of checkpoints.json.
    private readonly Lock _checkpointFileLock = new();

    private sealed class ConsumerState
    {
        public long Checkpoint;
        public bool Registered;
    }

    /// <summary>
    /// Declares a consumer of the log and returns its checkpoint: the one persisted for that name, or 0. While
    /// registered (for the lifetime of this instance), a consumer holds back the deletion of every segment it has
    /// not checkpointed past. Thread-safe; registering twice is harmless.
    /// </summary>
    /// <remarks>
    /// Segments are deleted by checkpoints only when at least one consumer is registered. Checkpoints persisted
    /// for names that are not registered are kept in the file but hold nothing back.
    /// </remarks>
    public long RegisterConsumer(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (_consumersLock)
        {
            if (!_consumers.TryGetValue(name, out ConsumerState? state))
            {
                _consumers[name] = state = new ConsumerState();
                _checkpointsDirty = true;
            }
            state.Registered = true;
            return state.Checkpoint;
        }
    }

    /// <summary>The consumer's checkpoint (every record at or before it is finished), 0 when unknown. Thread-safe.</summary>
    public long GetCheckpoint(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_consumersLock)
            return _consumers.TryGetValue(name, out ConsumerState? state) ? state.Checkpoint : 0;
    }

    /// <summary>
    /// Records that the registered consumer <paramref name="name"/> has finished with every record at or before
    /// <paramref name="sequence"/>. Monotonic: a value at or below the current checkpoint is ignored. Deletes the
    /// segments every registered consumer has now passed (never the segment being written). The checkpoint is
    /// persisted at the next <see cref="WalOptions.CheckpointFlushInterval"/> tick, <see cref="FlushCheckpoints"/>
    /// or dispose. Thread-safe.
    /// </summary>
    /// <exception cref="InvalidOperationException">The consumer is not registered.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequence"/> is beyond <see cref="LastSequence"/>.</exception>
    public void Checkpoint(string name, long sequence)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (sequence > LastSequence)
            throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"The last sequence is {LastSequence}.");
        lock (_consumersLock)
        {
            if (!_consumers.TryGetValue(name, out ConsumerState? state) || !state.Registered)
                throw new InvalidOperationException($"Consumer '{name}' is not registered.");
            if (sequence <= state.Checkpoint)
                return;
            state.Checkpoint = sequence;
            _checkpointsDirty = true;
        }
        DeleteConsumedSegments();
    }

    /// <summary>
    /// Writes the checkpoints (and the next sequence) to <c>checkpoints.json</c> now, atomically, if they changed
    /// since the last write. Thread-safe.
    /// </summary>
    /// <exception cref="IOException">The file could not be written; the checkpoints stay pending.</exception>
    public void FlushCheckpoints() => PersistCheckpoints(force: true);

    /// <summary>
    /// The "drop oldest" policy for a full log: deletes the oldest segment (never the one being written), moves
    /// every consumer's checkpoint past its records, and returns how many records it held (0 when only the
    /// segment being written is left). Thread-safe.
    /// </summary>
    public long DropOldestSegment()
    {
        Segment? dropped = null;
        lock (_segmentsLock)
        {
            if (_segments.Count > 1 && IsDeletable(_segments[0]))
            {
                dropped = _segments[0];
                _segments.RemoveAt(0);
            }
        }
        if (dropped is null)
            return 0;

        long last = dropped.CommittedLastSequence;
        lock (_consumersLock)
        {
            foreach (ConsumerState state in _consumers.Values)
            {
                if (state.Checkpoint < last)
                {
                    state.Checkpoint = last;
                    _checkpointsDirty = true;
                }
            }
        }
        DeleteFiles([dropped]);
        return dropped.HasCommittedRecords ? last - dropped.FirstSequence + 1 : 0;
    }

    /// <summary>Deletes the oldest segments whose records every registered consumer has checkpointed.</summary>
    private void DeleteConsumedSegments()
    {
        long minimum = long.MaxValue;
        lock (_consumersLock)
        {
            foreach (ConsumerState state in _consumers.Values)
            {
                if (state.Registered)
                    minimum = Math.Min(minimum, state.Checkpoint);
            }
        }
        if (minimum == long.MaxValue)
            return; // nobody registered: nothing may be deleted on checkpoints

        List<Segment>? doomed = null;
        lock (_segmentsLock)
        {
            while (_segments.Count > 1 && IsDeletable(_segments[0]) && _segments[0].CommittedLastSequence <= minimum)
            {
                (doomed ??= []).Add(_segments[0]);
                _segments.RemoveAt(0);
            }
        }
        if (doomed is not null)
            DeleteFiles(doomed);
    }

    /// <summary>A segment the writer is done with: not the active one, closed, with its records published.</summary>
    private bool IsDeletable(Segment segment) => segment.Sealed && !ReferenceEquals(segment, Volatile.Read(ref _active));

    private void DeleteFiles(List<Segment> segments)
    {
        long bytes = 0;
        foreach (Segment segment in segments)
        {
            bytes += segment.WrittenLength;
            try
            {
                File.Delete(segment.Path);
            }
            catch (IOException)
            {
                // Still on disk: recovery finds its records again, which is safe (they are replayed twice).
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        lock (_gate)
            _liveBytes -= bytes;
    }

    private void PersistCheckpointsInBackground()
    {
        try
        {
            PersistCheckpoints(force: false);
        }
        catch
        {
            // Stays dirty; retried at the next tick, on FlushCheckpoints and on dispose.
        }
    }

    /// <param name="force">Also write when only the next sequence moved (explicit flush and dispose).</param>
    private void PersistCheckpoints(bool force)
    {
        lock (_checkpointFileLock)
        {
            KeyValuePair<string, long>[] snapshot;
            long next = LastSequence + 1;
            lock (_consumersLock)
            {
                bool nextMoved = next != _persistedNextSequence;
                if (!_checkpointsDirty && !(force && nextMoved))
                    return;
                snapshot = new KeyValuePair<string, long>[_consumers.Count];
                int i = 0;
                foreach (KeyValuePair<string, ConsumerState> consumer in _consumers)
                    snapshot[i++] = new(consumer.Key, consumer.Value.Checkpoint);
                _checkpointsDirty = false;
            }
            Array.Sort(snapshot, static (a, b) => string.CompareOrdinal(a.Key, b.Key));

            try
            {
                CheckpointFile.Save(_directory, next, snapshot);
                _persistedNextSequence = next;
            }
            catch
            {
                lock (_consumersLock)
                    _checkpointsDirty = true;
                throw;
            }
        }
    }
}
