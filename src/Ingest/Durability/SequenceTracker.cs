namespace Ingest.Durability;

/// <summary>
/// Follows the log records a consumer still has to finish, so that its checkpoint (the highest sequence below
/// which nothing is pending) can move on although records finish out of order: the raw sink has several writes
/// in flight, and a record refused by a full buffer is finished at once.
/// </summary>
/// <remarks>Thread-safe: records are added by requests and finished by sinks and the runner.</remarks>
public sealed class SequenceTracker
{
    // Sequence -> how many times it is pending (an append's placeholder may be the number another append gets).
    private readonly SortedDictionary<long, int> _pending = new();
    private readonly object _lock = new();
    private long _highest;

    public SequenceTracker(long checkpoint) => _highest = checkpoint;

    /// <summary>Records handed to the consumer and not yet finished.</summary>
    public int Pending { get { lock (_lock) return _pending.Count; } }

    /// <summary>The consumer now has record <paramref name="sequence"/> to finish.</summary>
    public void Add(long sequence)
    {
        if (sequence <= 0) return;
        lock (_lock)
        {
            _pending[sequence] = _pending.GetValueOrDefault(sequence) + 1;
            if (sequence > _highest) _highest = sequence;
        }
    }

    /// <summary>The consumer is done with record <paramref name="sequence"/>.</summary>
    public void Complete(long sequence)
    {
        if (sequence <= 0) return;
        lock (_lock)
        {
            if (!_pending.TryGetValue(sequence, out var parts)) return;
            if (parts > 1) _pending[sequence] = parts - 1;
            else _pending.Remove(sequence);
        }
    }

    /// <summary>The lowest pending record, <see cref="long.MaxValue"/> when none.</summary>
    public long OldestPending
    {
        get
        {
            lock (_lock) return _pending.Count > 0 ? _pending.First().Key : long.MaxValue;
        }
    }

    /// <summary>The highest record ever added.</summary>
    public long Highest { get { lock (_lock) return _highest; } }

    /// <summary>Every record up to this one is finished (or was never this consumer's).</summary>
    public long Checkpoint
    {
        get
        {
            lock (_lock) return _pending.Count > 0 ? _pending.First().Key - 1 : _highest;
        }
    }
}
