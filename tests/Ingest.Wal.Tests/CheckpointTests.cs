using System.Text.Json;

namespace Ingest.Wal.Tests;

public sealed class CheckpointTests
{
    private const int PayloadBytes = 100;

    // 16 + 5 * 116 = 596: five records per segment, so segment k (k = 0, 1, …) holds 5k+1 .. 5k+5.
    private static WalOptions Options(TempDirectory dir, TimeSpan? checkpointInterval = null) =>
        Wal.Options(dir, segmentBytes: 600, checkpointInterval: checkpointInterval);

    private static Task<long[]> Fill(WriteAheadLog log, int count, int from = 1) =>
        Wal.AppendMany(log, Enumerable.Range(from, count).Select(i => Wal.Payload(i, PayloadBytes)));

    [Fact]
    public async Task Segments_are_deleted_only_when_every_registered_consumer_has_passed_them()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        Assert.Equal(0, log.RegisterConsumer("influx"));
        Assert.Equal(0, log.RegisterConsumer("redis"));
        await Fill(log, 30);
        Assert.Equal(6, log.SegmentCount);

        log.Checkpoint("influx", 30);
        Assert.Equal(6, log.SegmentCount);
        Assert.Equal(6, dir.Segments().Length);
        Assert.Equal(1, log.FirstSequence);

        log.Checkpoint("redis", 12); // segments 1-5 and 6-10 are done, 11-15 is not
        Assert.Equal(4, log.SegmentCount);
        Assert.Equal(["00000000000000000011.wal", "00000000000000000016.wal", "00000000000000000021.wal", "00000000000000000026.wal"],
            dir.Segments().Select(Path.GetFileName));
        Assert.Equal(11, log.FirstSequence);
        Assert.Equal(11, log.ReadFrom(1).First().Sequence);
        Assert.Equal(4 * (16 + 5 * 116), log.SizeBytes);

        log.Checkpoint("redis", 30);
        // The segment being written stays, even when everything in it is consumed.
        Assert.Equal(["00000000000000000026.wal"], dir.Segments().Select(Path.GetFileName));
        Assert.Equal(26, log.FirstSequence);
        Assert.Equal(31, (await Fill(log, 1, 31)).Single());
    }

    [Fact]
    public async Task A_segment_consumed_while_it_was_being_written_is_deleted_when_the_log_rolls()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        log.RegisterConsumer("sink");
        await Fill(log, 5);
        log.Checkpoint("sink", 5);
        Assert.Single(dir.Segments()); // the segment being written is kept
        await Fill(log, 1, 6);
        Assert.Equal(["00000000000000000006.wal"], dir.Segments().Select(Path.GetFileName));
        Assert.Equal(1, log.SegmentCount);
        Assert.Equal(6, log.FirstSequence);
    }

    [Fact]
    public async Task Checkpoints_are_monotonic_validated_and_persist_over_reopen()
    {
        using var dir = new TempDirectory();
        await using (var log = WriteAheadLog.Open(Options(dir)))
        {
            log.RegisterConsumer("a");
            log.RegisterConsumer("b");
            await Fill(log, 20);
            log.Checkpoint("a", 17);
            log.Checkpoint("a", 9);
            Assert.Equal(17, log.GetCheckpoint("a"));
            log.Checkpoint("b", 3);
            Assert.Throws<ArgumentOutOfRangeException>(() => log.Checkpoint("a", 21));
            Assert.Throws<InvalidOperationException>(() => log.Checkpoint("nobody", 1));
            Assert.Equal(0, log.GetCheckpoint("nobody"));
        }

        await using (var log = WriteAheadLog.Open(Options(dir)))
        {
            Assert.Equal(17, log.GetCheckpoint("a"));
            Assert.Equal(3, log.GetCheckpoint("b"));
            // Only "a" registers this time: "b"'s old checkpoint no longer holds segments back.
            Assert.Equal(17, log.RegisterConsumer("a"));
            await Fill(log, 5, 21);
            log.Checkpoint("a", 25);
            Assert.Equal(["00000000000000000021.wal"], dir.Segments().Select(Path.GetFileName));
            Assert.Equal(3, log.GetCheckpoint("b"));
        }

        await using (var log = WriteAheadLog.Open(Options(dir)))
        {
            Assert.Equal(25, log.GetCheckpoint("a"));
            Assert.Equal(3, log.RegisterConsumer("b"));
            // What "b" can still replay starts after the gap.
            Assert.Equal(21, log.ReadFrom(4).First().Sequence);
        }
    }

    [Fact]
    public async Task Checkpoints_are_persisted_in_the_background_without_dispose()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir, checkpointInterval: TimeSpan.FromMilliseconds(30)));
        log.RegisterConsumer("sink");
        await Fill(log, 7);
        log.Checkpoint("sink", 6);

        long persisted = 0;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (persisted != 6 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            try
            {
                using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(dir.File("checkpoints.json")));
                persisted = json.RootElement.GetProperty("consumers").GetProperty("sink").GetInt64();
            }
            catch (FileNotFoundException)
            {
            }
        }
        Assert.Equal(6, persisted);
        Assert.False(File.Exists(dir.File("checkpoints.json.tmp")));
    }

    [Fact]
    public async Task FlushCheckpoints_writes_the_file_now()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir, checkpointInterval: TimeSpan.FromHours(1)));
        log.RegisterConsumer("sink");
        await Fill(log, 4);
        log.Checkpoint("sink", 4);
        log.FlushCheckpoints();
        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(dir.File("checkpoints.json")));
        Assert.Equal(4, json.RootElement.GetProperty("consumers").GetProperty("sink").GetInt64());
        Assert.Equal(5, json.RootElement.GetProperty("nextSequence").GetInt64());
    }

    [Fact]
    public async Task Without_registered_consumers_checkpoints_delete_nothing()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        await Fill(log, 20);
        Assert.Throws<InvalidOperationException>(() => log.Checkpoint("x", 20));
        Assert.Equal(4, log.SegmentCount);
    }

    [Fact]
    public async Task The_oldest_unconsumed_record_has_an_append_time()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        log.RegisterConsumer("sink");
        DateTimeOffset before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await Fill(log, 12);
        DateTimeOffset? oldest = log.OldestUnconsumedAppendTime("sink");
        Assert.NotNull(oldest);
        Assert.InRange(oldest.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
        log.Checkpoint("sink", 12);
        Assert.Null(log.OldestUnconsumedAppendTime("sink"));
    }
}
