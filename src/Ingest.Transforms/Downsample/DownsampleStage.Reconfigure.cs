using Ingest.LineProtocol;
using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

/// <summary>What a <see cref="DownsampleStage.Reconfigure"/> did with each tier, by name, in configuration order.</summary>
/// <param name="Unchanged">Tiers whose settings, and those of every tier up their source chain, are equal: their windows carry over.</param>
/// <param name="Changed">Tiers of the same name with other settings (or a changed source): flushed, then started empty.</param>
/// <param name="Added">Tiers new to the configuration: they start empty.</param>
/// <param name="Removed">Tiers no longer configured: flushed.</param>
public sealed record TierChanges(IReadOnlyList<string> Unchanged, IReadOnlyList<string> Changed, IReadOnlyList<string> Added, IReadOnlyList<string> Removed);

// A configuration reload: a new stage for new tiers, carrying the windows of the tiers that stayed as they were.
public sealed partial class DownsampleStage
{
    /// <summary>
    /// Returns a new stage for <paramref name="options"/> carrying this one's windows for the tiers that did not change;
    /// this stage is not used afterwards. Tiers are matched by name. An unchanged tier (every setting equal, and every
    /// tier up its source chain unchanged) keeps its open windows, those written but still within their lateness, its
    /// clocks and its counters, so it writes exactly what it would have written without the reload. A removed or
    /// changed tier first writes its open windows through <paramref name="emit"/>, as <see cref="Flush"/> would for
    /// it alone; a changed tier, like an added one, then starts empty with the next points. Call between batches.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (nothing was changed).</exception>
    /// <exception cref="InvalidOperationException">A snapshot is being written (nothing was changed).</exception>
    public DownsampleStage Reconfigure(DownsampleOptions options, Action<PointBatch> emit, out TierChanges changes)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(emit);
        options.ThrowIfInvalid();
        if (_snapshot is not null) throw new InvalidOperationException("a snapshot is being written: complete or abort it before reconfiguring");

        var old = _tiers.ToDictionary(t => t.Settings.Name, StringComparer.Ordinal);
        var kept = new HashSet<string>(StringComparer.Ordinal);
        List<string> unchangedNames = [], changedNames = [], addedNames = [], removedNames = [];
        // Sources are listed first, so a tier's source is judged before the tier.
        foreach (var tier in options.Tiers)
        {
            if (!old.TryGetValue(tier.Name, out var before)) { addedNames.Add(tier.Name); continue; }
            bool same = SameSettings(before.Settings, tier) && (string.IsNullOrEmpty(tier.Source) || kept.Contains(tier.Source));
            if (same) kept.Add(tier.Name);
            (same ? unchangedNames : changedNames).Add(tier.Name);
        }
        foreach (var tier in _tiers)
        {
            if (!options.Tiers.Any(t => t.Name == tier.Settings.Name)) removedNames.Add(tier.Settings.Name);
        }
        changes = new TierChanges(unchangedNames, changedNames, addedNames, removedNames);

        // Flush the tiers that go, as AdvanceAll(flush: true) does, but for them only. A tier fed by one of them is
        // changed or removed too (its source chain changed), and comes later, so it takes the closing windows first.
        foreach (var tier in _tiers)
        {
            if (kept.Contains(tier.Settings.Name)) continue;
            if (tier.Source is { } source) tier.Watermark = source.Watermark;
            tier.Advance(_output, flush: true);
        }
        _output.HandOver(emit);

        // The kept tiers' windows, clocks and window groups (with their first sequences) go through a snapshot in
        // memory: it re-interns their series and fields in the new stage's catalog, whose tier numbering differs.
        using var memory = new MemoryStream();
        using (var writer = new StateWriter(memory))
        {
            WriteSnapshot(writer);
            writer.Complete();
        }
        memory.Position = 0;
        DownsampleStage next;
        using (var reader = new StateReader(memory, memory.Length - 4))
        {
            next = ReadSnapshot(options, reader, out _, kept.Contains);
            reader.Complete();
        }

        foreach (var tier in next._tiers)
        {
            if (!kept.Contains(tier.Settings.Name)) continue;
            var before = old[tier.Settings.Name];
            tier.WindowsEmitted = before.WindowsEmitted;
            tier.WindowsReemitted = before.WindowsReemitted;
            tier.PointsAggregated = before.PointsAggregated;
            tier.PointsDroppedLate = before.PointsDroppedLate;
            tier.PointsOutOfRange = before.PointsOutOfRange;
            tier.WritesSuppressed = before.WritesSuppressed;
        }
        return next;
    }

    /// <summary>Every setting of two tiers equal, lists element by element (the record compares them by reference).</summary>
    internal static bool SameSettings(DownsampleTier a, DownsampleTier b) =>
        a.Name == b.Name
        && a.Interval == b.Interval
        && a.AllowedLateness == b.AllowedLateness
        && SameList(a.Measurements, b.Measurements)
        && SameList(a.Fields, b.Fields)
        && SameList(a.Aggregates, b.Aggregates)
        && string.Equals(a.RetentionPolicy ?? "", b.RetentionPolicy ?? "", StringComparison.Ordinal)
        && string.Equals(a.Source ?? "", b.Source ?? "", StringComparison.Ordinal)
        // A setting added to DownsampleTier later is compared too (the lists are taken out of the record's equality).
        && a with { Measurements = NoNames, Fields = NoNames, Aggregates = NoNames, RetentionPolicy = null, Source = null }
           == b with { Measurements = NoNames, Fields = NoNames, Aggregates = NoNames, RetentionPolicy = null, Source = null };

    private static readonly string[] NoNames = [];

    private static bool SameList(IReadOnlyList<string> a, IReadOnlyList<string> b) => a.SequenceEqual(b, StringComparer.Ordinal);
}
