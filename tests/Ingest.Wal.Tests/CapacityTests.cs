namespace Ingest.Wal.Tests;

public sealed class CapacityTests
{
    private const int PayloadBytes = 200;
    private const int Frame = 16 + PayloadBytes;

    // Segments of 16 + 4 * 216 = 880 bytes; at most 4096 bytes live.
    private static WalOptions Options(TempDirectory dir) => Wal.Options(dir, segmentBytes: 900, maxBytes: 4096);

    private static long FilesBytes(TempDirectory dir) => dir.Segments().Sum(f => new FileInfo(f).Length);

    private static async Task<long> FillUntilFull(WriteAheadLog log)
    {
        long last = log.LastSequence;
        while (true)
        {
            try
            {
                last = await log.AppendAsync(Wal.Payload(last + 1, PayloadBytes));
            }
            catch (WalFullException ex)
            {
                Assert.Equal(WalFullReason.SizeLimit, ex.Reason);
                return last;
            }
        }
    }

    [Fact]
    public async Task An_append_beyond_MaxBytes_fails_and_writes_nothing()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        long last = await FillUntilFull(log);
        Assert.True(last >= 10, $"only {last} records fit");
        long size = log.SizeBytes;
        Assert.Equal(FilesBytes(dir), size);
        Assert.True(size + Frame + 16 > 4096);
        Assert.True(size <= 4096);

        var error = await Assert.ThrowsAsync<WalFullException>(async () => await log.AppendAsync(Wal.Payload(999, PayloadBytes)));
        Assert.Equal(WalFullReason.SizeLimit, error.Reason);
        Assert.IsAssignableFrom<IOException>(error);
        Assert.Equal(size, log.SizeBytes);
        Assert.Equal(size, FilesBytes(dir));
        Assert.Equal(last, log.LastSequence);
        // Something small still fits.
        Assert.Equal(last + 1, await log.AppendAsync(new byte[1]));
    }

    [Fact]
    public async Task A_checkpoint_that_deletes_a_segment_makes_room_again()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        log.RegisterConsumer("sink");
        long last = await FillUntilFull(log);
        await Assert.ThrowsAsync<WalFullException>(async () => await log.AppendAsync(Wal.Payload(last + 1, PayloadBytes)));

        log.Checkpoint("sink", 4); // the first segment: 1..4
        Assert.False(File.Exists(dir.File("00000000000000000001.wal")));
        Assert.Equal(last + 1, await log.AppendAsync(Wal.Payload(last + 1, PayloadBytes)));
        Assert.Equal(Enumerable.Range(5, (int)last - 3).Select(i => (long)i), Wal.ReadAll(log).Select(r => r.Sequence));
    }

    [Fact]
    public async Task DropOldestSegment_frees_space_and_moves_checkpoints()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Options(dir));
        log.RegisterConsumer("slow");
        log.RegisterConsumer("fast");
        long last = await FillUntilFull(log);
        log.Checkpoint("fast", 6);
        long segments = log.SegmentCount;

        Assert.Equal(4, log.DropOldestSegment());
        Assert.Equal(4, log.GetCheckpoint("slow"));
        Assert.Equal(6, log.GetCheckpoint("fast"));
        Assert.Equal(5, log.FirstSequence);
        Assert.Equal(segments - 1, log.SegmentCount);
        Assert.Equal(FilesBytes(dir), log.SizeBytes);
        Assert.Equal(last + 1, await log.AppendAsync(Wal.Payload(last + 1, PayloadBytes)));

        long dropped = 0;
        while (log.SegmentCount > 1)
            dropped += log.DropOldestSegment();
        Assert.Equal(0, log.DropOldestSegment());
        Assert.Single(dir.Segments());
        Assert.Equal(log.FirstSequence - 1, log.GetCheckpoint("slow"));
        Assert.Equal(log.FirstSequence - 5, dropped);
    }
}
