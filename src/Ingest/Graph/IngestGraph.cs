using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Durability;
using Ingest.LineProtocol;
using Ingest.Sinks.DeadLetter;
using Ingest.Sinks.Feed;
using Ingest.Sinks.Influx;
using Ingest.Telemetry;
using Ingest.Transforms.Downsample;
using Ingest.Transforms.Feed;
using Ingest.Transforms.Live;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging;

namespace Ingest.Graph;

/// <summary>
/// The stream graph, built in one place from configuration:
/// <code>
///   sources → admission ─┬→ buffer → fan-out ─┬→ raw ──────────────────→ influx          (raw points, unless excluded)
///                        │                    ├→ feed ─────────────────→ /ws clients
///                        │                    ├→ downsample (windows) ──→ influx_derived  (windows)
///                        │                    └→ live ─────────────────→ Redis           (live state)
///                        └→ threshold (AlertPath) ─────────────────────→ influx_alerts   (alert events)
/// </code>
/// From the buffer on it runs on Akka.Streams (<see cref="StreamGraph"/>, materialized by <see cref="Start"/>).
/// Every stage has a <see cref="StageStats"/>; every queue is bounded and has a full-policy. Raw points are
/// released from the buffer only once the raw sink has finished with them.
/// </summary>
public sealed class IngestGraph
{
    public IngestGraph(IngestOptions options, IPointBuffer buffer, InfluxClient client, SinkInstruments instruments,
        PipelineTelemetry telemetry, ILoggerFactory loggers, IngestMeter meter, DurableLog log, FeedHub? feed, LiveOptions? live = null,
        DeadLetterStore? deadLetters = null, Admission.InfluxSchema? schema = null)
    {
        DeadLetters = deadLetters;
        Log = log;
        Options = options;
        Buffer = buffer;
        Telemetry = telemetry;
        // Registered first, so that the stages read in graph order in /api/pipeline and the metrics.
        HttpSource = Ingest.Admission.AdmissionSource.Register(telemetry, "http");
        BufferStats = telemetry.Register(new StageStats("buffer", "buffer") { QueueDepth = () => buffer.Depth, QueueCapacity = buffer.Capacity });

        // Each transform has its branch of the graph, with its buffer's gauge on its stage.
        var branches = new List<TransformBranch>();
        StageStats TransformStats(string name) => telemetry.Register(new StageStats(name, "transform")
        {
            QueueDepth = () => branches.FirstOrDefault(b => b.Stats.Name == name)?.Held ?? 0,
            QueueCapacity = options.Pipeline.TransformQueueCapacity,
        });
        // First, so that feed clients get the points before the windows' branch is handed the batch. The feed's
        // stage is its hub's, whose own queue is what fills when clients are slow.
        if (feed is not null) branches.Add(new TransformBranch(new FeedTransform(feed), FullPolicy.DropOldest, feed.Stats));
        if (options.Downsample.Tiers.Count > 0)
        {
            var stats = TransformStats("downsample");
            Downsample = new DownsampleTransform(options.Downsample, stats, log.Ledger)
            {
                Written = feed is null ? null : feed.PublishAggregates,
            };
            branches.Add(new TransformBranch(Downsample, FullPolicy.Backpressure, stats, holdsWindows: true));
            // The tiers running now (a reload may change them), so that a dashboard can pick one by its time range.
            var downsample = Downsample;
            meter.Meter.CreateObservableGauge("ingest.downsample.tier.interval", () => downsample.Engine.Tiers.Select(t =>
                    new System.Diagnostics.Metrics.Measurement<double>(t.Interval.TotalSeconds, new KeyValuePair<string, object?>("tier", t.Name))), "s",
                "Each downsampling tier's window length, by tier.");
        }
        if (options.Redis.Enabled && live is { Enabled: true })
        {
            var stats = TransformStats("live");
            Live = new LiveStateTransform(live, options.Influx.DefaultTarget, stats, options.Redis.LiveKeyPrefix);
            branches.Add(new TransformBranch(Live, FullPolicy.DropOldest, stats));
        }

        // The drop callback captures the variable, which is assigned once the queue exists.
        StageStats derived = null!;
        DerivedQueue = new StageQueue("influx_derived", options.Pipeline.DerivedQueueCapacity, options.Pipeline.DerivedQueuePolicy,
            (b, reason) =>
            {
                derived.AddDropped(reason, b.Count);
                log.Ledger.Finished(LedgerConsumer.Derived, b);
            });
        // The raw sink's queue is its own budget: the points it holds until InfluxDB has them.
        var raw = telemetry.Register(new StageStats(InfluxSink.RawName, "sink") { QueueDepth = () => RawSink!.Pending, QueueCapacity = options.Pipeline.RawQueueCapacity });
        derived = telemetry.Register(new StageStats("influx_derived", "sink") { QueueDepth = () => DerivedQueue.Depth, QueueCapacity = DerivedQueue.Capacity });

        // Alert events have their own queue and sink, so that they never wait behind a burst of windows.
        // One write in flight keeps a series' transitions in order in InfluxDB.
        if (options.Thresholds.Rules.Count > 0)
        {
            var thresholdStats = telemetry.Register(new StageStats("threshold", "transform"));
            StageStats alertSink = null!;
            var queue = new StageQueue("influx_alerts", options.Pipeline.AlertQueueCapacity, options.Pipeline.DerivedQueuePolicy,
                (b, reason) =>
                {
                    alertSink.AddDropped(reason, b.Count);
                    log.Ledger.Finished(LedgerConsumer.AlertEvents, b);
                });
            alertSink = telemetry.Register(new StageStats("influx_alerts", "sink") { QueueDepth = () => queue.Depth, QueueCapacity = queue.Capacity });
            Alerts = new AlertPath(new ThresholdTransform(new ThresholdCheck(options.Thresholds.Rules), options.Thresholds.Measurement, thresholdStats, meter),
                queue, thresholdStats, log.Ledger);
            if (feed is not null) Alerts.Check.Transitions += feed.PublishAlerts;
            AlertQueue = queue;
            AlertSink = SinkFor(queue.Name, alertSink, Ordered(client), queue.Capacity, ordered: true, b => log.Ledger.Finished(LedgerConsumer.AlertEvents, b));
        }

        Admission = new Admission.WriteAdmission(
            new Admission.AdmissionSettings(options.Buffer.FullWaitTimeout, TimeSpan.FromSeconds(options.Buffer.RetryAfterSeconds)),
            buffer, log, Alerts, BufferStats, telemetry, loggers.CreateLogger<Admission.WriteAdmission>(), schema);

        RouteStats = telemetry.Register(new StageStats("raw", "transform"));
        Runner = new TransformRunner(buffer, branches, DerivedQueue, options.Pipeline.RawExclude, RouteStats, log)
        {
            FlushAtEnd = !log.Enabled,
            TrackProcessed = log.Enabled && Downsample is not null,
        };
        if (log.Enabled && Downsample is not null)
            WindowCheckpoints = new WindowCheckpoints(log, Runner, Downsample, meter, loggers.CreateLogger<WindowCheckpoints>());

        RawSink = SinkFor(InfluxSink.RawName, raw, client, options.Pipeline.RawQueueCapacity, ordered: false, b =>
        {
            buffer.Release(b.Count);
            log.Ledger.Finished(LedgerConsumer.Raw, b);
        });
        // One write in flight: a window re-emitted with late points must not be overtaken by its older version,
        // which a concurrent write or a retry could otherwise land last. The sink's budget is its queue's capacity,
        // so that the queue's full-policy applies while InfluxDB is away.
        DerivedSink = SinkFor(DerivedQueue.Name, derived, Ordered(client), DerivedQueue.Capacity, ordered: true,
            b => log.Ledger.Finished(LedgerConsumer.Derived, b));

        // The stage counts points received as the sink takes them; what became of them (stored: sent, lost:
        // dropped, set aside: dead-lettered) its telemetry counts per write, under the metrics' reasons.
        InfluxSink SinkFor(string name, StageStats stats, InfluxClient sinkClient, long capacity, bool ordered, Action<PointBatch> delivered) =>
            new(sinkClient, new InfluxSinkTelemetry(instruments, loggers.CreateLogger<InfluxSinkTelemetry>(), name, stats),
                b =>
                {
                    delivered(b);
                    b.Release();
                },
                deadLetters, options.DeadLetter, name, capacity, ordered, received: b => stats.AddReceived(b.Count));
    }

    /// <summary>A client with one write in flight, so that writes land in the order they were queued.</summary>
    private static InfluxClient Ordered(InfluxClient client) => new(client.Http, client.Options with { MaxConcurrentRequests = 1 });

    public IngestOptions Options { get; }

    /// <summary>Where the sinks set aside points InfluxDB will not store; null when off.</summary>
    public DeadLetterStore? DeadLetters { get; }

    /// <summary>The write-ahead log and how far each consumer is done with it.</summary>
    public DurableLog Log { get; }
    public IPointBuffer Buffer { get; }
    public PipelineTelemetry Telemetry { get; }

    /// <summary>The one path by which sources and the log's replay put batches into the graph.</summary>
    public Admission.WriteAdmission Admission { get; }

    /// <summary>The InfluxDB-compatible write endpoints, as a source of the admission.</summary>
    public Admission.AdmissionSource HttpSource { get; }

    /// <summary>Points into the buffer (acknowledged) and out of it (taken by the transforms).</summary>
    public StageStats BufferStats { get; }
    /// <summary>The threshold check and its alert events; null when no rule is configured.</summary>
    public AlertPath? Alerts { get; }

    /// <summary>Writes alert events; null when no rule is configured.</summary>
    public InfluxSink? AlertSink { get; }
    public ThresholdTransform? Thresholds => Alerts?.Check;
    public DownsampleTransform? Downsample { get; }

    /// <summary>Snapshots of the downsampling windows; null without tiers or without the write-ahead log.</summary>
    public WindowCheckpoints? WindowCheckpoints { get; }

    /// <summary>The live state of every series, kept for Redis; null without Redis or with Live:Enabled false.</summary>
    public LiveStateTransform? Live { get; }
    public StageQueue DerivedQueue { get; }

    /// <summary>The alert events' queue, in front of <see cref="AlertSink"/>; null when no rule is configured.</summary>
    public StageQueue? AlertQueue { get; }
    public TransformRunner Runner { get; }

    /// <summary>The admitted batches' graph once started (<see cref="Start"/>).</summary>
    public StreamGraph? Stream { get; private set; }

    /// <summary>
    /// Materializes the graph over the buffer, with the raw sink as its raw branch, and the derived and alert sinks
    /// over their queues; once, at start. The task completes once all of them have ended; <see cref="Parts"/> has each.
    /// </summary>
    /// <param name="abort">The stop's deadline: gives up on steps waiting for queue room and on writes in progress.</param>
    /// <param name="systemTerminated">The actor system's end: the graph's stages end with it.</param>
    public Task Start(Akka.Streams.IMaterializer materializer, CancellationToken abort, Task? systemTerminated = null)
    {
        if (Stream is not null) throw new InvalidOperationException("the graph is already running");
        var derived = DerivedSink.RunAsync(Reader(DerivedQueue, abort), materializer, abort);
        Stream = StreamGraph.Run(Buffer, Runner, RawSink.Create(abort), BufferStats, Options.Pipeline.TransformQueueCapacity, materializer, abort,
            systemTerminated);
        Parts = AlertSink is null
            ? [("the stream graph", Stream.Completion), ("the derived sink", derived)]
            : [("the stream graph", Stream.Completion), ("the derived sink", derived),
                ("the alert sink", AlertSink.RunAsync(Reader(AlertQueue!, abort), materializer, abort))];
        return Task.WhenAll(Parts.Select(p => p.Running));
    }

    /// <summary>Whether the pipeline is paused (<see cref="PauseAsync"/>).</summary>
    public bool Paused => Admission.Paused;

    /// <summary>
    /// Pauses the pipeline: sources' writes are refused (503 with a retry-after) and the graph's valve closes, so
    /// nothing more leaves the buffer; what the branches and sinks had already taken is still delivered.
    /// </summary>
    public async Task PauseAsync()
    {
        Admission.Paused = true;
        if (Stream is not null) await Stream.PauseAsync().ConfigureAwait(false);
    }

    /// <summary>Resumes a paused pipeline: the valve opens and writes are taken again.</summary>
    public async Task ResumeAsync()
    {
        if (Stream is not null) await Stream.ResumeAsync().ConfigureAwait(false);
        Admission.Paused = false;
    }

    /// <summary>What <see cref="Start"/> runs, each with its end; empty before.</summary>
    public IReadOnlyList<(string Name, Task Running)> Parts { get; private set; } = [];

    /// <summary>A queue's batches as a source, ending when the queue is completed and drained.</summary>
    private static Akka.Streams.Dsl.Source<PointBatch, Akka.NotUsed> Reader(StageQueue queue, CancellationToken abort) =>
        Akka.Streams.Dsl.Source.From(() => ReadAll(queue, abort));

    private static async IAsyncEnumerable<PointBatch> ReadAll(StageQueue queue, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken abort)
    {
        while (await queue.ReadAsync(abort).ConfigureAwait(false) is { } batch) yield return batch;
    }

    /// <summary>The raw branch's routing (stage <c>raw</c>): points passed to the raw sink, and those excluded.</summary>
    public StageStats RouteStats { get; }

    /// <summary>
    /// Closes every open window once the transforms have taken every point acknowledged before this call. Waits
    /// up to <paramref name="wait"/>; when a full stage downstream holds the runner back longer, the flush stays
    /// scheduled and runs when the runner gets there (Done is then false).
    /// </summary>
    public async Task<(bool Done, long Points)> FlushAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var flush = Runner.FlushAfterAsync(BufferStats.Received, CancellationToken.None);
        var finished = await Task.WhenAny(flush, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
        return finished == flush ? (true, await flush.ConfigureAwait(false)) : (false, 0);
    }
    public InfluxSink RawSink { get; }
    public InfluxSink DerivedSink { get; }

    /// <summary>Every InfluxDB sink with its stage name.</summary>
    public IEnumerable<(string Name, InfluxSink Sink)> Sinks =>
        AlertSink is null
            ? [(InfluxSink.RawName, RawSink), (DerivedQueue.Name, DerivedSink)]
            : [(InfluxSink.RawName, RawSink), (DerivedQueue.Name, DerivedSink), (AlertQueue!.Name, AlertSink)];
}
