using Ingest.Durability;
using Ingest.Graph;
using Ingest.LineProtocol;

namespace Ingest.Transforms.Thresholds;

/// <summary>
/// Runs the threshold check in the write path: a batch is checked by the request that brought it, right after
/// the buffer has taken it and before the request is answered, so an alert does not wait behind the transform
/// runner (downsampling, a backed-up derived sink). The alert events it derives go to their own queue and sink
/// (<c>influx_alerts</c>), not behind downsampled windows.
/// </summary>
/// <remarks>
/// Concurrency: requests call <see cref="CheckAsync"/> concurrently; the check itself runs under one lock
/// (it takes microseconds per batch: only points of a measurement some rule names are evaluated), so the
/// engine keeps its state without further locking. Anything else that touches the engine (acknowledgements,
/// state export and restore) goes through <see cref="RunExclusive{T}"/>. Listeners of
/// <see cref="ThresholdTransform.Transitions"/> are called under that lock and must not block.
/// <para>Durability: each batch of alert events gets an emission number (its <see cref="PointBatch.Emission"/>),
/// pending in the <see cref="DeliveryLedger"/> until the alerts sink has delivered or dropped it; a checked log
/// record is finished there under the same lock. Read together under <see cref="RunExclusive{T}"/>, the two say which
/// records a saved alert state covers and which events it presumes delivered (see
/// <see cref="Sinks.Redis.AlertStateStore"/>).</para>
/// </remarks>
public sealed class AlertPath
{
    private readonly object _gate = new();
    private readonly Collector _collector = new();
    private readonly StageStats _stats;
    private readonly DeliveryLedger? _ledger;
    private long _emitted;

    /// <param name="ledger">Where a checked record is finished and each batch of alert events recorded as pending.</param>
    public AlertPath(ThresholdTransform check, StageQueue queue, StageStats stats, DeliveryLedger? ledger = null)
    {
        Check = check;
        Queue = queue;
        _stats = stats;
        _ledger = ledger;
    }

    /// <summary>The emission number of the last batch of alert events queued. Read under <see cref="RunExclusive{T}"/>.</summary>
    public long Emitted => _emitted;

    public ThresholdTransform Check { get; }

    /// <summary>The queue in front of the alerts sink.</summary>
    public StageQueue Queue { get; }

    /// <summary>Evaluates the rules over <paramref name="batch"/> (only read) and queues the alert events it caused.</summary>
    public async ValueTask CheckAsync(PointBatch batch, CancellationToken cancellationToken)
    {
        List<PointBatch> events;
        lock (_gate)
        {
            try
            {
                Check.Process(batch, _collector);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug in a rule must not fail the write: the points are already buffered. Counted instead.
                _stats.AddError(Check.Name + ":" + e.GetType().Name);
            }
            finally
            {
                _ledger?.Finished(LedgerConsumer.Check, batch);
            }
            events = _collector.Take();
            foreach (var b in events)
            {
                b.Emission = ++_emitted;
                _ledger?.Emitted(LedgerConsumer.AlertEvents, b);
            }
        }
        foreach (var b in events) await Queue.WriteAsync(b, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Replaces the rules between two batches (a reload): the check carries every unchanged rule's state over, see
    /// <see cref="ThresholdTransform.Reconfigure"/>. Nothing is emitted: a changed rule judges its series anew at their
    /// next point.
    /// </summary>
    public RuleChanges Reconfigure(IReadOnlyList<ThresholdRule> rules)
    {
        lock (_gate) return Check.Reconfigure(rules);
    }

    /// <summary>Runs <paramref name="action"/> while no batch is being checked.</summary>
    public T RunExclusive<T>(Func<T> action)
    {
        lock (_gate) return action();
    }

    private sealed class Collector : ITransformOutput
    {
        private List<PointBatch>? _batches;

        public void Derived(PointBatch batch) => (_batches ??= new()).Add(batch);

        public List<PointBatch> Take()
        {
            var taken = _batches ?? [];
            _batches = null;
            return taken;
        }
    }
}
