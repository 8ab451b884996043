using Ingest.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources.Http;

/// <summary>
/// Gives the memory of large request bodies back to the system once a burst of them is over.
/// </summary>
/// <remarks>
/// Buffers above a megabyte are dropped, not pooled, after their request; but they are large objects, freed only
/// by a full collection, and a daemon that goes quiet after a burst may not run one for hours, keeping the
/// memory all that time. So when such buffers were dropped, none since the last check, and no full collection
/// has run since the last of them, this runs one. It has to be an aggressive (compacting) one: measured after
/// a burst of 50 gzip bodies, a plain full collection, blocking or not, freed the arrays but kept their memory
/// committed (RSS stayed at 250 MB), while the aggressive one gave it back (RSS 115 MB, 83 MB before the burst).
/// Its pause is paid once per burst, never during one.
/// </remarks>
public sealed partial class BodyMemoryReclaimer(BodyBudget budget, ILogger<BodyMemoryReclaimer> logger) : BackgroundService
{
    /// <summary>How often the check runs; a burst counts as over after one interval without large buffers dropped.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>Less garbage than this is left to the GC's own pace.</summary>
    public const long Threshold = 32L << 20;

    private long _seen;
    private long _pending;
    private int _fullCollections;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Periodic.RunAsync(Interval, Check, stoppingToken);

    private void Check()
    {
        long pending = _pending;
        if (!ShouldCollect(budget.LargeBytesReleased, GC.CollectionCount(2))) return;
        LogCollecting(pending >> 20);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>
    /// One check, given the large bytes released since start and the number of full collections so far: true
    /// when a burst of at least <see cref="Threshold"/> is over and no full collection has run since its end.
    /// </summary>
    internal bool ShouldCollect(long largeBytesReleased, int fullCollections)
    {
        long fresh = largeBytesReleased - _seen;
        _seen = largeBytesReleased;
        if (fresh > 0)
        {
            _pending += fresh;
            _fullCollections = fullCollections;
            return false;
        }
        long pending = _pending;
        _pending = 0;
        return pending >= Threshold && fullCollections == _fullCollections;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Request bodies dropped {Megabytes} MB of large buffers and went quiet: running a full collection to give the memory back")]
    private partial void LogCollecting(long megabytes);
}
