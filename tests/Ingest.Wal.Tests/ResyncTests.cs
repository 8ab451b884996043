using System.Buffers.Binary;

namespace Ingest.Wal.Tests;

/// <summary>
/// Damage that valid records follow: recovery skips the damaged records, resynchronises on the next valid frame,
/// keeps everything after it, counts what it skipped and keeps the damaged bytes.
/// </summary>
public sealed class ResyncTests
{
    private const string FirstSegment = "00000000000000000001.wal";

    /// <summary>A log of <paramref name="count"/> records of varied sizes in one segment, closed cleanly; the payloads by sequence - 1.</summary>
    private static async Task<List<byte[]>> WriteLog(TempDirectory dir, int count, long segmentBytes = 64L << 20, Func<int, byte[]>? payload = null)
    {
        var payloads = Enumerable.Range(1, count).Select(i => payload?.Invoke(i) ?? Wal.Payload(i, 40 + i * 13 % 300)).ToList();
        await using var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes));
        await Wal.AppendMany(log, payloads);
        return payloads;
    }

    /// <summary>Offset of record <paramref name="sequence"/> in a segment that starts at sequence 1.</summary>
    private static long OffsetOf(List<byte[]> payloads, long sequence) =>
        16 + payloads.Take((int)sequence - 1).Sum(p => 16L + p.Length);

    private static byte Flip(string path, long offset, byte mask = 0x5A)
    {
        using var file = new FileStream(path, FileMode.Open);
        file.Position = offset;
        int old = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(old ^ mask));
        return (byte)old;
    }

    private static void AssertReadsExactly(WriteAheadLog log, List<byte[]> payloads, IEnumerable<long> sequences)
    {
        var records = Wal.ReadAll(log);
        Assert.Equal(sequences.ToList(), records.Select(r => r.Sequence).ToList());
        foreach ((long sequence, byte[] payload) in records)
            Assert.Equal(payloads[(int)sequence - 1], payload);
    }

    private static IEnumerable<long> AllBut(int count, params long[] lost) =>
        Enumerable.Range(1, count).Select(i => (long)i).Where(s => !lost.Contains(s));

    [Theory]
    [InlineData(16 + 7)]   // the payload
    [InlineData(4)]        // the checksum
    [InlineData(9)]        // the sequence
    [InlineData(0)]        // the length's low byte: the frame's end moves, the next record is found by searching
    [InlineData(3)]        // the length's high byte: an impossible length
    public async Task One_damaged_byte_in_the_middle_of_the_last_segment_loses_only_that_record(int byteInRecord)
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 100);
        string segment = dir.File(FirstSegment);
        long at = OffsetOf(payloads, 50);
        long frame = 16 + payloads[49].Length;
        Flip(segment, at + byteInRecord);
        byte[] damaged = File.ReadAllBytes(segment).AsSpan((int)at, (int)frame).ToArray();

        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            WalRecovery recovery = log.Recovery;
            Assert.Equal(99, recovery.RecordsFound);
            Assert.Equal(1, recovery.SkippedRecords);
            Assert.Equal(1, recovery.SkippedUnconsumedRecords);
            Assert.Equal(frame, recovery.SkippedBytes);
            Assert.Equal(0, recovery.TruncatedRecords);
            Assert.Empty(recovery.SegmentsSetAside);
            WalDamage d = Assert.Single(recovery.Damage);
            Assert.Equal(new WalDamage(FirstSegment, at, frame, 50, 50, 1, $"{FirstSegment}.damaged-{at}"), d);
            Assert.False(recovery.IsClean);

            AssertReadsExactly(log, payloads, AllBut(100, 50));
            Assert.Equal(51, log.ReadFrom(50).First().Sequence);
            Assert.Equal(100, log.LastSequence);
            Assert.Equal(101, recovery.NextSequence);
            Assert.Equal(101, await log.AppendAsync(Wal.Payload(101, 10)));
            payloads.Add(Wal.Payload(101, 10));
        }

        // The damaged bytes are kept, outside the log; the records after them moved to a segment of their own.
        Assert.Equal(damaged, File.ReadAllBytes(dir.File($"{FirstSegment}.damaged-{at}")));
        Assert.Equal([FirstSegment, "00000000000000000051.wal"], dir.Segments().Select(Path.GetFileName));
        Assert.Equal(at, new FileInfo(segment).Length);

        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            AssertReadsExactly(log, payloads, AllBut(101, 50));
            Assert.Equal(new FileInfo(segment).Length + new FileInfo(dir.Segments()[1]).Length, log.SizeBytes);
        }
    }

    [Fact]
    public async Task Several_damaged_records_are_each_skipped_and_every_record_between_them_is_kept()
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 100);
        string segment = dir.File(FirstSegment);
        Flip(segment, OffsetOf(payloads, 10) + 20);   // 10 and 11: next to each other, one stretch
        Flip(segment, OffsetOf(payloads, 11) + 1);
        Flip(segment, OffsetOf(payloads, 40) + 0);
        Flip(segment, OffsetOf(payloads, 42) + 30);   // 41 is intact between two damaged records
        Flip(segment, OffsetOf(payloads, 70) + 12);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        WalRecovery recovery = log.Recovery;
        Assert.Equal(
            [(10L, 11L), (40L, 40L), (42L, 42L), (70L, 70L)],
            recovery.Damage.Select(d => (d.FirstSequence, d.LastSequence)));
        Assert.Equal(OffsetOf(payloads, 12) - OffsetOf(payloads, 10), recovery.Damage[0].Length);
        Assert.Equal(5, recovery.SkippedRecords);
        Assert.Equal(recovery.Damage.Sum(d => d.Length), recovery.SkippedBytes);
        Assert.Equal(95, recovery.RecordsFound);
        AssertReadsExactly(log, payloads, AllBut(100, 10, 11, 40, 42, 70));
        Assert.Equal(
            ["00000000000000000001.wal", "00000000000000000012.wal", "00000000000000000041.wal", "00000000000000000043.wal", "00000000000000000071.wal"],
            dir.Segments().Select(Path.GetFileName));
        Assert.Equal(4, Directory.GetFiles(dir.Path, "*.damaged-*").Length);
        Assert.Equal(101, await log.AppendAsync(new byte[3]));
        Assert.Equal("00000000000000000071.wal", Path.GetFileName(dir.Segments()[^1]));
    }

    [Fact]
    public async Task Damage_in_the_middle_and_a_torn_tail_are_told_apart()
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 30);
        string segment = dir.File(FirstSegment);
        Flip(segment, OffsetOf(payloads, 12) + 25);
        long length = new FileInfo(segment).Length;
        // A torn record after the last one: a header announcing more than what follows.
        var torn = new byte[16 + 20];
        BinaryPrimitives.WriteUInt32LittleEndian(torn, 500);
        BinaryPrimitives.WriteInt64LittleEndian(torn.AsSpan(8), 31);
        using (var file = new FileStream(segment, FileMode.Append))
            file.Write(torn);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal(1, log.Recovery.SkippedRecords);
        Assert.Equal(1, log.Recovery.TruncatedRecords);
        Assert.Equal(torn.Length, log.Recovery.TruncatedBytes);
        AssertReadsExactly(log, payloads, AllBut(30, 12));
        Assert.Equal(length - OffsetOf(payloads, 13) + 16, new FileInfo(dir.File("00000000000000000013.wal")).Length);
        Assert.Single(Directory.GetFiles(dir.Path, "*.damaged-*"));
    }

    [Fact]
    public async Task Damage_across_a_segment_boundary_loses_only_the_damaged_records_on_each_side()
    {
        using var dir = new TempDirectory();
        var payloads = Enumerable.Range(1, 60).Select(i => Wal.Payload(i, 100)).ToList();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
            await Wal.AppendMany(log, payloads);
        string[] segments = dir.Segments();
        Assert.True(segments.Length >= 5);
        string before = segments[1], after = segments[2];
        long afterFirst = long.Parse(Path.GetFileNameWithoutExtension(after));
        long beforeLength = new FileInfo(before).Length;
        // The last record of one segment, the header and first record of the next.
        Flip(before, beforeLength - 30);
        Flip(after, 2);
        Flip(after, 16 + 40);

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
        {
            WalRecovery recovery = log.Recovery;
            Assert.Equal(
                [(Path.GetFileName(before), beforeLength - 116, 116L, afterFirst - 1, afterFirst - 1),
                 (Path.GetFileName(after), 0L, 16 + 116L, afterFirst, afterFirst)],
                recovery.Damage.Select(d => (d.Segment, d.Offset, d.Length, d.FirstSequence, d.LastSequence)));
            Assert.Equal(2, recovery.SkippedRecords);
            Assert.Equal(0, recovery.TruncatedBytes);
            Assert.Empty(recovery.SegmentsSetAside);
            AssertReadsExactly(log, payloads, AllBut(60, afterFirst - 1, afterFirst));
            Assert.False(File.Exists(after));
            Assert.True(File.Exists(dir.File($"{afterFirst + 1:D20}.wal")));
            Assert.Equal(61, await log.AppendAsync(new byte[1]));
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
    }

    [Fact]
    public async Task A_damaged_segment_header_loses_no_record()
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 20);
        string segment = dir.File(FirstSegment);
        Flip(segment, 1); // inside the magic

        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            WalDamage d = Assert.Single(log.Recovery.Damage);
            Assert.Equal((0L, 16L, 0L), (d.Offset, d.Length, d.Records));
            Assert.Equal(0, log.Recovery.SkippedRecords);
            AssertReadsExactly(log, payloads, AllBut(20));
            Assert.Equal(21, await log.AppendAsync(new byte[1]));
        }
        Assert.Equal("IWAL", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(segment), 0, 4));
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
    }

    [Fact]
    public async Task An_earlier_segment_damaged_in_the_middle_keeps_its_records_before_and_after_the_damage()
    {
        using var dir = new TempDirectory();
        var payloads = Enumerable.Range(1, 40).Select(i => Wal.Payload(i, 100)).ToList();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
            await Wal.AppendMany(log, payloads);
        string victim = dir.Segments()[1];
        long first = long.Parse(Path.GetFileNameWithoutExtension(victim));
        Flip(victim, 16 + 116 + 16 + 40); // the second record's payload

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024));
        Assert.Equal(first + 1, Assert.Single(reopened.Recovery.Damage).FirstSequence);
        AssertReadsExactly(reopened, payloads, AllBut(40, first + 1));
        Assert.Equal(first + 2, reopened.ReadFrom(first + 1).First().Sequence);
        Assert.Equal(40, reopened.LastSequence);
        // Segments stay contiguous, so counts by sequence still hold on both sides of the gap.
        Assert.Equal(first - 1, reopened.DropOldestSegment());
        Assert.Equal(1, reopened.DropOldestSegment()); // the record before the damage, in what is left of the victim
        Assert.Equal(first + 2, reopened.FirstSequence);
        // A checkpoint in the gap lets the segments before it go and keeps the one after it.
        reopened.RegisterConsumer("sink");
        reopened.Checkpoint("sink", first + 1);
        Assert.Equal(first + 2, reopened.FirstSequence);
        reopened.Checkpoint("sink", first + 7);
        Assert.Equal(first + 8, reopened.FirstSequence);
    }

    [Fact]
    public async Task Records_the_consumers_had_finished_are_counted_apart_from_the_lost_ones()
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = Enumerable.Range(1, 50).Select(i => Wal.Payload(i, 100)).ToList();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            log.RegisterConsumer("fast");
            log.RegisterConsumer("slow");
            await Wal.AppendMany(log, payloads);
            log.Checkpoint("fast", 45);
            log.Checkpoint("slow", 25);
        }
        string segment = dir.File(FirstSegment);
        Flip(segment, 16 + 9 * 116 + 50);                 // record 10: both had finished it
        Flip(segment, 16 + 29 * 116 + 50);                // 30 and 31: slow had not
        Flip(segment, 16 + 30 * 116 + 50);

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal([0L, 2L], reopened.Recovery.Damage.Select(d => d.UnconsumedRecords));
        Assert.Equal(3, reopened.Recovery.SkippedRecords);
        Assert.Equal(2, reopened.Recovery.SkippedUnconsumedRecords);
        Assert.Equal(25, reopened.RegisterConsumer("slow"));
        Assert.Equal(26, reopened.ReadFrom(26).First().Sequence);
        Assert.Equal(32, reopened.ReadFrom(30).First().Sequence);
    }

    [Fact]
    public async Task Bytes_that_look_like_a_record_header_inside_a_payload_are_not_taken_for_one()
    {
        // Every payload is full of headers with a plausible length and a nearby sequence: only the checksum
        // tells them from records.
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 40, payload: i =>
        {
            var bytes = Wal.Payload(i, 640);
            for (int at = 8; at + 16 <= bytes.Length; at += 16)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)(at % 96));
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 4), (uint)(i * 7919 + at));
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at + 8), i + 1 + at % 3);
            }
            return bytes;
        });
        string segment = dir.File(FirstSegment);
        Flip(segment, OffsetOf(payloads, 20) + 1, 0x01);  // the length: the search starts inside record 20's payload

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal((20L, 20L), (log.Recovery.Damage.Single().FirstSequence, log.Recovery.Damage.Single().LastSequence));
        AssertReadsExactly(log, payloads, AllBut(40, 20));
    }

    /// <summary>A payload holding, at byte 40, a complete valid record frame with the given sequence.</summary>
    private static byte[] PayloadHoldingAFrame(int id, long embeddedSequence)
    {
        byte[] inner = Wal.Payload(1000 + id, 60);
        byte[] bytes = Wal.Payload(id, 200);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(40), (uint)inner.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(44), WalCrc.Compute(inner, embeddedSequence));
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(48), embeddedSequence);
        inner.CopyTo(bytes, 56);
        return bytes;
    }

    [Fact]
    public async Task A_frame_inside_a_damaged_payload_is_stepped_over_when_the_length_survived()
    {
        // Record 15 carries a valid frame for sequence 16 in its payload. Its own length is intact, so the
        // search goes to where that length points, not into the payload.
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 30, payload: i => i == 15 ? PayloadHoldingAFrame(i, 16) : Wal.Payload(i, 200));
        Flip(dir.File(FirstSegment), OffsetOf(payloads, 15) + 16 + 10);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        AssertReadsExactly(log, payloads, AllBut(30, 15));
    }

    [Fact]
    public async Task A_frame_inside_a_payload_with_a_sequence_impossible_at_its_offset_is_refused()
    {
        // The length of record 15 is damaged, so the search goes byte by byte through its payload, where a valid
        // frame claims sequence 415: 200 bytes cannot hold the 400 records that would come before it.
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 30, payload: i => i == 15 ? PayloadHoldingAFrame(i, 415) : Wal.Payload(i, 200));
        Flip(dir.File(FirstSegment), OffsetOf(payloads, 15) + 1, 0x01);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        AssertReadsExactly(log, payloads, AllBut(30, 15));
        Assert.Equal(31, await log.AppendAsync(new byte[1]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Random_payloads_with_random_damage_lose_exactly_the_damaged_records(int seed)
    {
        var random = new Random(seed);
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 150, payload: _ =>
        {
            var bytes = new byte[random.Next(0, 2000)];
            random.NextBytes(bytes);
            return bytes;
        });
        string segment = dir.File(FirstSegment);
        long end = OffsetOf(payloads, 151);
        var damagedRecords = new HashSet<long>();
        for (int k = random.Next(1, 6); k > 0; k--)
        {
            long at = random.NextInt64(16, end);
            Flip(segment, at, (byte)random.Next(1, 256));
            long sequence = 1;
            while (OffsetOf(payloads, sequence + 1) <= at)
                sequence++;
            damagedRecords.Add(sequence);
        }

        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            var intact = AllBut(150, damagedRecords.ToArray()).ToList();
            AssertReadsExactly(log, payloads, intact);
            // Damaged records at the very end are a torn tail: truncated, not skipped.
            long lostAtTheEnd = 0;
            while (damagedRecords.Contains(150 - lostAtTheEnd))
                lostAtTheEnd++;
            Assert.Equal(damagedRecords.Count - lostAtTheEnd, log.Recovery.SkippedRecords);
            Assert.Equal(intact.Count, log.Recovery.RecordsFound);
            Assert.Equal(151, await log.AppendAsync(new byte[1]));
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            Assert.Equal(150 - damagedRecords.Count + 1, Wal.ReadAll(log).Count);
        }
    }

    [Fact]
    public async Task A_repair_interrupted_by_a_crash_is_finished_by_the_next_recovery()
    {
        // The state a crash leaves between writing the new segments and cutting the damaged one: both hold the
        // records after the damage.
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 60);
        string segment = dir.File(FirstSegment);
        Flip(segment, OffsetOf(payloads, 20) + 30);
        Flip(segment, OffsetOf(payloads, 40) + 30);
        byte[] damagedFile = File.ReadAllBytes(segment);
        using (var log = WriteAheadLog.Open(Wal.Options(dir)))
            Assert.Equal(2, log.Recovery.SkippedRecords);
        byte[] lastPiece = File.ReadAllBytes(dir.File("00000000000000000041.wal"));
        foreach (string file in Directory.GetFiles(dir.Path).Where(f => !f.EndsWith("checkpoints.json", StringComparison.Ordinal)))
            File.Delete(file);
        File.WriteAllBytes(segment, damagedFile);
        File.WriteAllBytes(dir.File("00000000000000000041.wal"), lastPiece);
        File.WriteAllBytes(dir.File("00000000000000000021.wal.repairing"), lastPiece[..100]);

        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            Assert.Empty(log.Recovery.SegmentsSetAside);
            AssertReadsExactly(log, payloads, AllBut(60, 20, 40));
            Assert.False(File.Exists(dir.File("00000000000000000021.wal.repairing")));
            Assert.Equal(
                ["00000000000000000001.wal", "00000000000000000021.wal", "00000000000000000041.wal"],
                dir.Segments().Select(Path.GetFileName));
            Assert.Equal(61, await log.AppendAsync(new byte[1]));
        }
    }

    [Fact]
    public async Task The_kept_damage_is_not_part_of_the_log_size()
    {
        using var dir = new TempDirectory();
        List<byte[]> payloads = await WriteLog(dir, 30);
        Flip(dir.File(FirstSegment), OffsetOf(payloads, 5) + 20);

        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Equal(dir.Segments().Sum(s => new FileInfo(s).Length), log.SizeBytes);
        Assert.Equal(OffsetOf(payloads, 31) - (16 + payloads[4].Length) + 16, log.SizeBytes);
    }
}
