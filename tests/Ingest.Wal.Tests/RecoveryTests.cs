namespace Ingest.Wal.Tests;

public sealed class RecoveryTests
{
    private const int PayloadBytes = 100;
    private const int Frame = 16 + PayloadBytes;

    private static List<byte[]> Payloads(int count, int from = 1) =>
        Enumerable.Range(from, count).Select(i => Wal.Payload(i, PayloadBytes)).ToList();

    /// <summary>Ten records in one segment, written by a process that then crashed (no checkpoint file).</summary>
    private static async Task<string> WriteTenAndCrash(TempDirectory dir)
    {
        var log = WriteAheadLog.Open(Wal.Options(dir));
        await Wal.AppendMany(log, Payloads(10));
        log.SimulateProcessCrash();
        return dir.Segments().Single();
    }

    [Theory]
    [InlineData(1)]           // inside the length field
    [InlineData(8)]           // inside the checksum
    [InlineData(15)]          // inside the sequence
    [InlineData(16)]          // header complete, no payload
    [InlineData(16 + 50)]     // inside the payload
    [InlineData(Frame - 1)]   // one byte short
    public async Task A_torn_last_record_is_cut_off_and_appends_continue_there(int keptBytesOfLastRecord)
    {
        using var dir = new TempDirectory();
        string segment = await WriteTenAndCrash(dir);
        long lastRecordStart = new FileInfo(segment).Length - Frame;
        using (var file = new FileStream(segment, FileMode.Open))
            file.SetLength(lastRecordStart + keptBytesOfLastRecord);

        var payloads = Payloads(9);
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            WalRecovery recovery = log.Recovery;
            Assert.Equal(9, recovery.RecordsFound);
            Assert.Equal(1, recovery.TruncatedRecords);
            Assert.Equal(keptBytesOfLastRecord, recovery.TruncatedBytes);
            Assert.Empty(recovery.SegmentsSetAside);
            Assert.Equal(10, recovery.NextSequence);
            Assert.Equal(9, log.LastSequence);
            Assert.Equal(lastRecordStart, new FileInfo(segment).Length);
            AppendReadTests.AssertRecords(payloads, 1, Wal.ReadAll(log));

            byte[] replacement = Wal.Payload(1010, 33);
            Assert.Equal(10, await log.AppendAsync(replacement));
            payloads.Add(replacement);
        }

        Assert.Single(dir.Segments());
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            AppendReadTests.AssertRecords(payloads, 1, Wal.ReadAll(log));
        }
    }

    [Fact]
    public async Task A_zero_filled_tail_is_cut_off_without_counting_records()
    {
        using var dir = new TempDirectory();
        string segment = await WriteTenAndCrash(dir);
        long length = new FileInfo(segment).Length;
        using (var file = new FileStream(segment, FileMode.Append))
            file.Write(new byte[4096]);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal(10, log.Recovery.RecordsFound);
        Assert.Equal(0, log.Recovery.TruncatedRecords);
        Assert.Equal(4096, log.Recovery.TruncatedBytes);
        Assert.Equal(length, new FileInfo(segment).Length);
        Assert.Equal(11, await log.AppendAsync(new byte[5]));
    }

    [Fact]
    public async Task A_last_record_with_a_bad_checksum_is_treated_as_torn()
    {
        using var dir = new TempDirectory();
        string segment = await WriteTenAndCrash(dir);
        long length = new FileInfo(segment).Length;
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.Position = length - 10;
            int b = file.ReadByte();
            file.Position = length - 10;
            file.WriteByte((byte)~b);
        }

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal(9, log.Recovery.RecordsFound);
        Assert.Equal(1, log.Recovery.TruncatedRecords);
        Assert.Equal(Frame, log.Recovery.TruncatedBytes);
        Assert.Empty(log.Recovery.SegmentsSetAside);
        Assert.Equal(10, await log.AppendAsync(new byte[5]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(16)]
    public async Task An_empty_segment_file_is_removed_and_reported(int length)
    {
        using var dir = new TempDirectory();
        var payloads = Payloads(12);
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600)))
            await Wal.AppendMany(log, payloads);
        File.Delete(dir.File("checkpoints.json")); // as after a crash right after the roll
        string empty = dir.File("00000000000000000013.wal");
        byte[] header = new byte[16];
        "IWAL"u8.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(4), (ushort)1);
        BitConverter.TryWriteBytes(header.AsSpan(6), (ushort)16);
        BitConverter.TryWriteBytes(header.AsSpan(8), 13L);
        File.WriteAllBytes(empty, header[..length]);

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600)))
        {
            Assert.Equal(1, log.Recovery.EmptySegmentsRemoved);
            Assert.Equal(12, log.Recovery.RecordsFound);
            Assert.False(File.Exists(empty));
            AppendReadTests.AssertRecords(payloads, 1, Wal.ReadAll(log));
            Assert.Equal(13, await log.AppendAsync(Wal.Payload(13, PayloadBytes)));
            Assert.Equal(3, dir.Segments().Length);
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            Assert.Equal(13, Wal.ReadAll(log).Count);
        }
    }

    [Fact]
    public async Task A_file_with_a_segment_name_but_neither_a_header_nor_records_of_the_log_is_set_aside()
    {
        using var dir = new TempDirectory();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600)))
            await Wal.AppendMany(log, Payloads(12));
        string first = dir.Segments()[0];
        var foreign = new byte[new FileInfo(first).Length];
        new Random(5).NextBytes(foreign);
        "NOPE"u8.CopyTo(foreign);
        File.WriteAllBytes(first, foreign);

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600));
        Assert.Equal(["00000000000000000001.wal.corrupt"], reopened.Recovery.SegmentsSetAside);
        Assert.True(Wal.ReadAll(reopened).First().Sequence > 1);
        Assert.Equal(13, await reopened.AppendAsync(new byte[1]));
    }

    [Fact]
    public async Task Sequences_continue_from_the_checkpoint_file_when_every_segment_is_gone()
    {
        using var dir = new TempDirectory();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
            await Wal.AppendMany(log, Payloads(25));
        foreach (string segment in dir.Segments())
            File.Delete(segment);

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal(26, reopened.Recovery.NextSequence);
        Assert.Equal(25, reopened.LastSequence);
        Assert.Equal(26, reopened.FirstSequence);
        Assert.Empty(Wal.ReadAll(reopened));
        Assert.Equal(26, await reopened.AppendAsync(new byte[1]));
        Assert.Equal("00000000000000000026.wal", Path.GetFileName(dir.Segments().Single()));
    }

    [Fact]
    public async Task An_unreadable_checkpoint_file_is_set_aside_and_reported()
    {
        using var dir = new TempDirectory();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            log.RegisterConsumer("sink");
            await Wal.AppendMany(log, Payloads(3));
            log.Checkpoint("sink", 2);
        }
        File.WriteAllText(dir.File("checkpoints.json"), "{ not json");

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir));
        Assert.True(reopened.Recovery.CheckpointsReset);
        Assert.True(File.Exists(dir.File("checkpoints.json.corrupt")));
        Assert.Equal(0, reopened.RegisterConsumer("sink"));
        Assert.Equal(4, await reopened.AppendAsync(new byte[1]));
    }
}
