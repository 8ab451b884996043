using Ingest.Graph;
namespace Ingest.Admission;

/// <summary>What became of a batch offered to <see cref="WriteAdmission"/>.</summary>
public enum AdmissionOutcome
{
    /// <summary>Every point is durable, counted in the buffer and checked against the thresholds.</summary>
    Accepted,

    /// <summary>The good points are accepted as with <see cref="Accepted"/>; the source's bad input was rejected.</summary>
    PartiallyAccepted,

    /// <summary>Nothing to accept: every part of the input was bad. Sending it again will not help.</summary>
    Rejected,

    /// <summary>
    /// The daemon cannot take the batch now; nothing of it was kept (not logged, not buffered, not checked), so the
    /// source must send it again after <see cref="AdmissionVerdict.RetryAfter"/>.
    /// </summary>
    Refused,
}

/// <summary>Why a batch was refused.</summary>
public enum RefusalReason
{
    None,

    /// <summary>Ingestion is paused (<c>POST /api/pipeline/pause</c>).</summary>
    Paused,

    /// <summary>The buffer stayed full for <c>Buffer:FullWaitTimeout</c>.</summary>
    BufferFull,

    /// <summary>The write-ahead log is full (<c>Wal:FullPolicy=reject</c>) or its disk fails.</summary>
    LogFull,
}

/// <summary>
/// The answer <see cref="WriteAdmission.AdmitAsync"/> gives. A source acknowledges upstream (2xx, XACK, a
/// JetStream ack) only on <see cref="IsAccepted"/>: by then the points survive a crash of the daemon.
/// </summary>
public readonly record struct AdmissionVerdict(AdmissionOutcome Outcome, int Accepted, int Rejected, RefusalReason Reason, TimeSpan RetryAfter)
{
    /// <summary>
    /// What the schema check refused: the whole batch (<see cref="SchemaVerdict.Refused"/>, with InfluxDB's status
    /// and message; <see cref="Outcome"/> is then <see cref="AdmissionOutcome.Rejected"/>), or the points it took
    /// out (<see cref="SchemaVerdict.Dropped"/>, counted in <see cref="Rejected"/>).
    /// </summary>
    public SchemaVerdict Schema { get; init; }

    /// <summary>Whether the source may acknowledge: some points were taken and every one of them is durable.</summary>
    public bool IsAccepted => Outcome is AdmissionOutcome.Accepted or AdmissionOutcome.PartiallyAccepted;

    /// <summary>A sentence for the source's error answer when refused; null otherwise.</summary>
    public string? Message => MessageOf(Reason);

    /// <summary>The sentence a source answers a refusal for <paramref name="reason"/> with.</summary>
    public static string? MessageOf(RefusalReason reason) => reason switch
    {
        RefusalReason.Paused => "ingestion is paused (POST /api/pipeline/resume)",
        RefusalReason.BufferFull => "buffer full: the daemon cannot take more points now, retry later",
        RefusalReason.LogFull => "write-ahead log full or failing: the daemon cannot take more points now, retry later",
        _ => null,
    };

    internal static AdmissionVerdict Refuse(RefusalReason reason, int rejected, TimeSpan retryAfter) =>
        new(AdmissionOutcome.Refused, 0, rejected, reason, retryAfter);

    internal static AdmissionVerdict Take(int accepted, int rejected) => accepted == 0
        ? new(AdmissionOutcome.Rejected, 0, rejected, RefusalReason.None, TimeSpan.Zero)
        : new(rejected == 0 ? AdmissionOutcome.Accepted : AdmissionOutcome.PartiallyAccepted, accepted, rejected, RefusalReason.None, TimeSpan.Zero);
}
