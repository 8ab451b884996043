using Ingest.Admission;

namespace Ingest.Tests.Admission;

/// <summary>How a source's client sees the answer to what it sent, in the source's own protocol.</summary>
public enum SourceAnswer
{
    /// <summary>Acknowledged whole (HTTP 204, an XACK, a JetStream ack).</summary>
    Acknowledged,

    /// <summary>Acknowledged with the bad part named (HTTP 400 "partial write").</summary>
    PartlyAcknowledged,

    /// <summary>Refused for good: resending the same input cannot help (HTTP 400).</summary>
    Rejected,

    /// <summary>Not taken now, to be sent again later (HTTP 503 with Retry-After, a nak with a delay).</summary>
    RetryLater,
}

/// <summary>A source under test, driven from its client's side.</summary>
public interface ISourceDriver : IAsyncDisposable
{
    /// <summary>Sends <paramref name="lines"/> for <paramref name="database"/> as the source's clients do.</summary>
    /// <returns>The answer, and the wait before a resend when the source says one.</returns>
    Task<(SourceAnswer Answer, TimeSpan? RetryAfter)> SendAsync(string database, IReadOnlyList<string> lines);
}

/// <summary>
/// What accepting a write means, for every source of the daemon. A source's test class derives from this one and
/// says how to reach the source; the facts below then run against it. The rule behind all of them: a source
/// acknowledges only what is durable, buffered and checked against the thresholds, and what it does not
/// acknowledge leaves no trace that a crash could bring back.
/// </summary>
public abstract class AdmissionContract : IAsyncLifetime
{
    private ISourceDriver? _driver;
    private AdmissionRig? _rig;

    /// <summary>The log's size for <see cref="A_batch_refused_by_a_full_log_gives_back_its_buffer_room"/>: a few writes.</summary>
    private const long SmallLog = 8 << 10;

    protected AdmissionRig Rig => _rig ?? throw new InvalidOperationException("no rig");
    protected ISourceDriver Source => _driver ?? throw new InvalidOperationException("no source");

    /// <summary>Starts the source over <paramref name="admission"/>, registered as <paramref name="source"/>.</summary>
    protected abstract Task<ISourceDriver> StartSourceAsync(WriteAdmission admission, AdmissionSource source);

    /// <summary>The stage name the source's counts appear under.</summary>
    protected abstract string SourceName { get; }

    public async Task InitializeAsync() => await UseRigAsync(new AdmissionRig());

    public async Task DisposeAsync()
    {
        if (_driver is not null) await _driver.DisposeAsync();
        _rig?.Dispose();
    }

    private async Task UseRigAsync(AdmissionRig rig)
    {
        await DisposeAsync();
        _rig = rig;
        _driver = await StartSourceAsync(rig.Admission, rig.Admission.Register(SourceName));
    }

    private static IReadOnlyList<string> Lines(string measurement, int count, int first = 0, double value = 1) =>
        Enumerable.Range(first, count).Select(i => $"{measurement},host=h{i} v={value} {1_000 + i}").ToList();

    private StageStatsView SourceStats => new(Rig.Telemetry.Stages.Single(s => s.Name == SourceName));

    [Fact]
    public async Task An_acknowledged_batch_is_logged_buffered_and_checked_when_the_answer_arrives()
    {
        var (answer, _) = await Source.SendAsync("db", Lines("cpu", 3, value: 95));

        Assert.Equal(SourceAnswer.Acknowledged, answer);
        // No waiting: each of these holds by the time the source answers.
        Assert.Equal(3, Rig.Buffer.Depth);
        Assert.Equal(3, Rig.AlertQueue.Depth);
        Assert.Equal(3, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task A_batch_refused_for_a_full_buffer_is_neither_logged_nor_buffered_nor_checked()
    {
        Assert.Equal(SourceAnswer.Acknowledged, (await Source.SendAsync("db", Lines("mem", AdmissionRig.BufferCapacity))).Answer);

        var (answer, retryAfter) = await Source.SendAsync("db", Lines("cpu", 5, value: 95));

        Assert.Equal(SourceAnswer.RetryLater, answer);
        Assert.Equal(AdmissionRig.RetryAfter, retryAfter);
        Assert.Equal(AdmissionRig.BufferCapacity, Rig.Buffer.Depth);
        Assert.Equal(0, Rig.AlertQueue.Depth);
        Assert.Equal(AdmissionRig.BufferCapacity, Rig.PointsReplayedAfterCrash());
        Assert.Equal(5, SourceStats.Dropped("buffer_full"));
    }

    [Fact]
    public async Task A_paused_admission_refuses_every_batch_until_resumed()
    {
        Rig.Admission.Paused = true;
        var (answer, retryAfter) = await Source.SendAsync("db", Lines("cpu", 4, value: 95));
        Assert.Equal(SourceAnswer.RetryLater, answer);
        Assert.NotNull(retryAfter);
        Assert.Equal(0, Rig.Buffer.Depth);
        Assert.Equal(0, Rig.AlertQueue.Depth);

        Rig.Admission.Paused = false;
        Assert.Equal(SourceAnswer.Acknowledged, (await Source.SendAsync("db", Lines("mem", 2))).Answer);
        Assert.Equal(2, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task A_batch_refused_by_a_full_log_gives_back_its_buffer_room()
    {
        await UseRigAsync(new AdmissionRig(SmallLog));
        long acknowledged = 0;
        (SourceAnswer Answer, TimeSpan? RetryAfter) last = default;
        // Each write is a few hundred bytes of log: the limit is reached well within the budget of writes.
        for (var i = 0; i < 200; i++)
        {
            last = await Source.SendAsync("db", Lines("disk", 2, first: 2 * i));
            if (last.Answer != SourceAnswer.Acknowledged) break;
            acknowledged += 2;
            // Make room in the buffer as a sink would: only the log may run out here.
            Rig.Buffer.Release(2);
        }

        Assert.Equal(SourceAnswer.RetryLater, last.Answer);
        Assert.Equal(AdmissionRig.RetryAfter, last.RetryAfter);
        Assert.True(acknowledged > 0, "the log refused the very first write");
        Assert.Equal(acknowledged, Rig.BufferStats.Received);
        Assert.Equal(0, Rig.Buffer.Depth);
        Assert.Equal(2, SourceStats.Dropped("wal_full"));
        Assert.Equal(acknowledged, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task Bad_input_is_rejected_while_the_good_points_of_the_same_message_are_kept()
    {
        var lines = Lines("cpu", 3, value: 95).Concat(["cpu,host=x v= 7", "no fields here"]).ToList();

        var (answer, _) = await Source.SendAsync("db", lines);

        Assert.Equal(SourceAnswer.PartlyAcknowledged, answer);
        Assert.Equal(3, Rig.Buffer.Depth);
        Assert.Equal(3, Rig.AlertQueue.Depth);
        Assert.Equal(2, SourceStats.Dropped("parse"));
        Assert.Equal(3, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task A_message_of_bad_input_only_is_rejected_for_good_and_leaves_nothing()
    {
        var (answer, retryAfter) = await Source.SendAsync("db", ["cpu v=", "cpu,host=a"]);

        Assert.Equal(SourceAnswer.Rejected, answer);
        Assert.Null(retryAfter);
        Assert.Equal(0, Rig.Buffer.Depth);
        Assert.Equal(0, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task A_batch_offered_once_the_buffer_is_closed_is_refused_and_not_logged()
    {
        Rig.Buffer.Complete();

        var (answer, _) = await Source.SendAsync("db", Lines("cpu", 2, value: 95));

        Assert.Equal(SourceAnswer.RetryLater, answer);
        Assert.Equal(0, Rig.AlertQueue.Depth);
        Assert.Equal(0, Rig.PointsReplayedAfterCrash());
    }

    [Fact]
    public async Task The_source_counts_what_it_received_passed_on_and_dropped_under_its_name()
    {
        await Source.SendAsync("db", Lines("mem", 60));
        await Source.SendAsync("db", Lines("mem", 30).Append("bad line").ToList());
        await Source.SendAsync("db", Lines("mem", 20));

        var stats = SourceStats;
        Assert.Equal(60 + 31 + 20, stats.Received);
        Assert.Equal(90, stats.Sent);
        Assert.Equal(1, stats.Dropped("parse"));
        Assert.Equal(20, stats.Dropped("buffer_full"));
        Assert.Equal(90, Rig.BufferStats.Received);
    }

    /// <summary>The counts of a source's stage.</summary>
    protected readonly record struct StageStatsView(Ingest.Graph.StageStats Stats)
    {
        public long Received => Stats.Received;
        public long Sent => Stats.Sent;
        public long Dropped(string reason) => Stats.Dropped.GetValueOrDefault(reason);
    }
}
