using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;

namespace Ingest.Transforms.Downsample;

/// <summary>The downsampling tiers as a pipeline transform; windows it closes go out as derived batches.</summary>
public sealed class DownsampleTransform : ITransformStage
{
    private readonly Action<PointBatch> _emit;
    private readonly StageStats _stats;
    private ITransformOutput? _output;
    private long _lateSeen;

    private readonly Durability.DeliveryLedger? _ledger;

    /// <param name="ledger">Where each emitted batch is recorded as pending, by its
    /// <see cref="PointBatch.Emission"/>, until the derived sink reports it delivered.</param>
    public DownsampleTransform(DownsampleOptions options, StageStats stats, Durability.DeliveryLedger? ledger = null)
    {
        Engine = new DownsampleStage(options);
        _stats = stats;
        _ledger = ledger;
        _emit = Emit;
    }

    public string Name => "downsample";

    /// <summary>Also sees every batch of windows written (the live feed's aggregates channel), on the runner's thread.</summary>
    public Action<PointBatch>? Written { get; init; }

    /// <summary>Batches emitted so far; each emitted batch carries its number as its <see cref="PointBatch.Emission"/>.</summary>
    public long Emitted { get; private set; }

    public DownsampleStage Engine { get; private set; }

    /// <summary>Calls that may have changed the windows (batches and flushes) so far.</summary>
    public long Changes { get; private set; }

    /// <summary>Puts a stage read back from a snapshot in place of the (empty) one; before the first batch.</summary>
    public void Restore(DownsampleStage restored)
    {
        ArgumentNullException.ThrowIfNull(restored);
        Engine = restored;
        _lateSeen = 0;
    }

    /// <summary>
    /// Puts a stage for <paramref name="options"/> in place of the running one: the unchanged tiers keep their windows,
    /// removed and changed ones write theirs to <paramref name="output"/> first (see <see cref="DownsampleStage.Reconfigure"/>).
    /// Call under <see cref="Graph.TransformRunner.RunExclusive{T}"/>, with no snapshot of the windows in progress.
    /// </summary>
    public TierChanges Reconfigure(DownsampleOptions options, ITransformOutput output)
    {
        _output = output;
        Changes++;
        Engine = Engine.Reconfigure(options, _emit, out var changes);
        // The kept tiers carry their late counts; the others' are gone with them.
        _lateSeen = 0;
        foreach (var tier in Engine.GetStats()) _lateSeen += tier.PointsDroppedLate;
        return changes;
    }

    public void Process(PointBatch input, ITransformOutput output)
    {
        _output = output;
        _stats.AddReceived(input.Count);
        Changes++;
        Engine.Process(input, _emit);
        CountLate();
    }

    public void Flush(ITransformOutput output)
    {
        _output = output;
        Changes++;
        Engine.Flush(_emit);
    }

    private void Emit(PointBatch batch)
    {
        batch.Emission = ++Emitted;
        _ledger?.Emitted(Durability.LedgerConsumer.Derived, batch);
        Written?.Invoke(batch);
        _stats.AddSent(batch.Count);
        _output!.Derived(batch);
    }

    // Points too late for their window are not aggregated; they still go on raw, and the drop is counted.
    private void CountLate()
    {
        long late = 0;
        foreach (var tier in Engine.GetStats()) late += tier.PointsDroppedLate;
        if (late > _lateSeen)
        {
            _stats.AddDropped("late", late - _lateSeen);
            _lateSeen = late;
        }
    }
}
