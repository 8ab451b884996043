using System.Text;
using Ingest.Admission;
using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests.Admission;

/// <summary>
/// The parts behind the admission, real and on disk: a write-ahead log in a directory of its own, the point
/// buffer and the threshold check (a rule on <c>cpu v</c>, critical above 90). Nothing drains the buffer, so
/// what a test sends stays where the admission put it.
/// </summary>
public sealed class AdmissionRig : IDisposable
{
    public const int BufferCapacity = 100;
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(3);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ingest-admission-" + Guid.NewGuid().ToString("N"));
    private readonly IngestOptions _options;
    private DurableLog _log;

    /// <param name="logBytes">The log's size limit; small enough, it refuses appends after a few writes.</param>
    public AdmissionRig(long logBytes = 64L << 20)
    {
        _options = new IngestOptions
        {
            Wal = new WalSettings { Directory = _dir, SyncMode = Ingest.Wal.WalSyncMode.PerWrite, SegmentBytes = Math.Min(logBytes, 64L << 20), MaxBytes = logBytes },
            Thresholds = new ThresholdsOptions { Rules = [Rule] },
        };
        _log = OpenLog();
        Buffer = new MemoryPointBuffer(BufferCapacity);
        Telemetry = new PipelineTelemetry(TestMeters.Create());
        BufferStats = new StageStats("buffer", "buffer");
        var thresholdStats = new StageStats("threshold", "transform");
        AlertQueue = new StageQueue("influx_alerts", 1000, FullPolicy.Backpressure, (_, _) => { });
        Alerts = new AlertPath(new ThresholdTransform(new ThresholdCheck([Rule]), "alerts", thresholdStats), AlertQueue, thresholdStats);
        Admission = new WriteAdmission(new AdmissionSettings(TimeSpan.FromMilliseconds(50), RetryAfter),
            Buffer, _log, Alerts, BufferStats, Telemetry, NullLogger<WriteAdmission>.Instance);
    }

    private static ThresholdRule Rule => new() { Name = "hot", Measurement = "cpu", Field = "v", Crit = 90 };

    public MemoryPointBuffer Buffer { get; }
    public PipelineTelemetry Telemetry { get; }
    public StageStats BufferStats { get; }
    public StageQueue AlertQueue { get; }
    public AlertPath Alerts { get; }
    public WriteAdmission Admission { get; }

    /// <summary>
    /// What a crash now would bring back: the log is closed without a checkpoint (as by <c>kill -9</c>) and
    /// reopened, and the points its replay would feed through the graph are counted.
    /// </summary>
    public long PointsReplayedAfterCrash()
    {
        _log.Dispose();
        _log = OpenLog();
        var (batches, _) = _log.ReadReplay();
        long points = 0;
        foreach (var b in batches)
        {
            points += b.Count;
            PointBatch.Return(b);
        }
        return points;
    }

    /// <summary>Lines as a source would decode them: the good ones in a batch, the bad ones counted.</summary>
    public static (PointBatch Batch, int Rejected) Decode(string database, IEnumerable<string> lines)
    {
        var batch = PointBatch.Rent();
        batch.Database = database;
        var summary = new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"), Precision.Nanoseconds, 0, batch);
        return (batch, summary.BadLines);
    }

    private DurableLog OpenLog() => new(_options, TestMeters.Create(), NullLogger<DurableLog>.Instance);

    public void Dispose()
    {
        _log.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
