using Ingest.LineProtocol;

namespace Ingest.Durability;

/// <summary>Who finishes what in <see cref="DeliveryLedger"/>.</summary>
public enum LedgerConsumer
{
    /// <summary>The raw sink: a log record is finished once its points are delivered (or excluded, or set aside).</summary>
    Raw,

    /// <summary>The transforms: a log record is finished once the windows have taken it.</summary>
    Transforms,

    /// <summary>The threshold check: a log record is finished once it was checked (followed with rules and Redis).</summary>
    Check,

    /// <summary>The derived sink: a batch of windows is finished once delivered or dropped.</summary>
    Derived,

    /// <summary>The alerts sink: a batch of alert events is finished once delivered or dropped.</summary>
    AlertEvents,
}

/// <summary>
/// The one place that knows which consumer has finished which log record and which derived batch is still on its
/// way. Stages report what they finished here and nowhere else; checkpoints and snapshots read it.
/// <para>Two kinds of identity, never mixed: a log record is known by its <see cref="PointBatch.Sequence"/>,
/// given by the log; a batch the graph derives (windows, alert events) by its <see cref="PointBatch.Emission"/>,
/// numbered by the stage that emits it.</para>
/// </summary>
/// <remarks>Thread-safe: records are logged by sources, finished by sinks, the transform runner and the alert path.</remarks>
public sealed class DeliveryLedger
{
    private readonly SequenceTracker[] _pending;
    private readonly bool _followsChecks;
    private long _rawDoneThrough;
    private long _transformsFrom;
    private long _checkFrom;
    private HashSet<long> _transformsSkip = [];

    /// <summary>A ledger with nothing finished before: no log, or a log that was empty.</summary>
    public DeliveryLedger() : this(0, 0, 0, followsChecks: false)
    {
    }

    /// <param name="raw">The raw sink's checkpoint in the log.</param>
    /// <param name="transforms">The transforms' checkpoint.</param>
    /// <param name="check">The threshold check's checkpoint.</param>
    /// <param name="followsChecks">Whether the check is followed at all (threshold rules and a saved alert state).</param>
    internal DeliveryLedger(long raw, long transforms, long check, bool followsChecks)
    {
        _followsChecks = followsChecks;
        _pending =
        [
            new SequenceTracker(raw),
            new SequenceTracker(transforms),
            new SequenceTracker(check),
            new SequenceTracker(0),
            new SequenceTracker(0),
        ];
    }

    private SequenceTracker Of(LedgerConsumer consumer) => _pending[(int)consumer];

    private static bool FollowsRecords(LedgerConsumer consumer) => consumer <= LedgerConsumer.Check;

    /// <summary>A record was appended to the log: every consumer of records has it to finish.</summary>
    internal void Logged(long sequence)
    {
        Of(LedgerConsumer.Raw).Add(sequence);
        Of(LedgerConsumer.Transforms).Add(sequence);
        if (_followsChecks) Of(LedgerConsumer.Check).Add(sequence);
    }

    /// <summary>No consumer waits for <paramref name="sequence"/> (an append's placeholder, or a failed append).</summary>
    internal void Abandoned(long sequence)
    {
        Of(LedgerConsumer.Raw).Complete(sequence);
        Of(LedgerConsumer.Transforms).Complete(sequence);
        Of(LedgerConsumer.Check).Complete(sequence);
    }

    /// <summary>
    /// Where the replay at start begins for each consumer of records: the raw sink had delivered everything through
    /// <paramref name="rawDoneThrough"/>, the windows need the records from <paramref name="transformsFrom"/> except
    /// those in <paramref name="transformsSkip"/> (held by their snapshot), the check those from <paramref name="checkFrom"/>.
    /// </summary>
    internal void ReplayBounds(long rawDoneThrough, long transformsFrom, long checkFrom, IEnumerable<long> transformsSkip)
    {
        _rawDoneThrough = rawDoneThrough;
        _transformsFrom = transformsFrom;
        _checkFrom = checkFrom;
        _transformsSkip = [.. transformsSkip];
    }

    /// <summary>A replayed record: pending for the consumers that had not finished it before the restart.</summary>
    internal void Replayed(long sequence)
    {
        foreach (var consumer in (ReadOnlySpan<LedgerConsumer>)[LedgerConsumer.Raw, LedgerConsumer.Transforms, LedgerConsumer.Check])
            if (Needs(consumer, sequence) && (consumer != LedgerConsumer.Check || _followsChecks))
                Of(consumer).Add(sequence);
    }

    /// <summary>
    /// Whether <paramref name="consumer"/> still has to take log record <paramref name="sequence"/>: false only for a
    /// replayed record it had finished before the restart. A batch never logged (sequence 0) is always needed.
    /// </summary>
    public bool Needs(LedgerConsumer consumer, long sequence) => sequence == 0 || consumer switch
    {
        LedgerConsumer.Raw => sequence > _rawDoneThrough,
        LedgerConsumer.Transforms => sequence >= _transformsFrom && !_transformsSkip.Contains(sequence),
        LedgerConsumer.Check => sequence >= _checkFrom,
        _ => throw new ArgumentOutOfRangeException(nameof(consumer), consumer, "derived batches are not replayed"),
    };

    /// <summary>
    /// A derived batch (windows, alert events) goes out: it is pending for <paramref name="consumer"/> by its
    /// <see cref="PointBatch.Emission"/>, which the emitting stage has set.
    /// </summary>
    public void Emitted(LedgerConsumer consumer, PointBatch batch)
    {
        if (FollowsRecords(consumer)) throw new ArgumentOutOfRangeException(nameof(consumer), consumer, "log records are not emitted");
        Of(consumer).Add(batch.Emission);
    }

    /// <summary>
    /// <paramref name="consumer"/> is done with <paramref name="batch"/>: delivered, dropped by policy, or (for the
    /// transforms and the check) taken. The batch's log record or emission, by the consumer.
    /// </summary>
    public void Finished(LedgerConsumer consumer, PointBatch batch) =>
        Of(consumer).Complete(FollowsRecords(consumer) ? batch.Sequence : batch.Emission);

    /// <summary><paramref name="consumer"/> is done with log record (or emission) <paramref name="id"/>.</summary>
    public void Finished(LedgerConsumer consumer, long id) => Of(consumer).Complete(id);

    /// <summary>Everything of <paramref name="consumer"/>'s up to this is finished.</summary>
    public long Checkpoint(LedgerConsumer consumer) => Of(consumer).Checkpoint;

    /// <summary>The lowest pending record or emission of <paramref name="consumer"/>; <see cref="long.MaxValue"/> when none.</summary>
    public long OldestPending(LedgerConsumer consumer) => Of(consumer).OldestPending;

    /// <summary>The highest record or emission <paramref name="consumer"/> was ever given.</summary>
    public long Highest(LedgerConsumer consumer) => Of(consumer).Highest;

    /// <summary>How many records or emissions <paramref name="consumer"/> has pending.</summary>
    public int Pending(LedgerConsumer consumer) => Of(consumer).Pending;
}
