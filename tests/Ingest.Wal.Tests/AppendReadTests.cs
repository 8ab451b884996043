using System.Text;

namespace Ingest.Wal.Tests;

public sealed class AppendReadTests
{
    [Fact]
    public void Crc32C_matches_the_published_check_value_and_is_chunking_independent()
    {
        Assert.Equal(0xE3069283u, WalCrc.OfBytes("123456789"u8));
        byte[] data = Wal.Payload(7, 1000);
        for (int split = 0; split <= data.Length; split += 37)
        {
            uint crc = WalCrc.Update(WalCrc.Update(WalCrc.Initial, data.AsSpan(0, split)), data.AsSpan(split));
            Assert.Equal(WalCrc.Update(WalCrc.Initial, data), crc);
        }
        Assert.NotEqual(WalCrc.Compute(data, 1), WalCrc.Compute(data, 2));
    }

    [Fact]
    public async Task Records_round_trip_across_segments_and_survive_reopen()
    {
        using var dir = new TempDirectory();
        var payloads = Enumerable.Range(1, 120).Select(i => Wal.Payload(i, i % 9 == 0 ? 0 : (i * 13) % 150 + 8)).ToList();
        payloads[50] = Wal.Payload(51, 3000); // larger than a segment: gets one of its own

        long[] sequences;
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
        {
            Assert.True(log.Recovery.IsClean);
            Assert.Equal(0, log.LastSequence);
            sequences = await Wal.AppendMany(log, payloads);
            Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), sequences);
            Assert.Equal(120, log.LastSequence);
            Assert.Equal(1, log.FirstSequence);
            Assert.True(log.SegmentCount > 5, $"only {log.SegmentCount} segments");
            Assert.Equal(dir.Segments().Length, log.SegmentCount);
            Assert.Equal(dir.Segments().Sum(f => new FileInfo(f).Length), log.SizeBytes);

            AssertRecords(payloads, 1, Wal.ReadAll(log));
            AssertRecords(payloads, 77, Wal.ReadAll(log, 77));
            Assert.Empty(Wal.ReadAll(log, 121));
        }

        string[] segments = dir.Segments();
        Assert.Equal("00000000000000000001.wal", Path.GetFileName(segments[0]));
        Assert.Contains(segments, s => Path.GetFileName(s) == "00000000000000000051.wal");

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 1024)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            Assert.Equal(120, log.Recovery.RecordsFound);
            Assert.Equal(segments.Length, log.Recovery.SegmentsScanned);
            Assert.Equal(121, log.Recovery.NextSequence);
            AssertRecords(payloads, 1, Wal.ReadAll(log));
            Assert.Equal(121, await log.AppendAsync(Encoding.UTF8.GetBytes("after reopen")));
            Assert.Equal("after reopen", Encoding.UTF8.GetString(Wal.ReadAll(log, 121).Single().Payload));
        }
    }

    [Fact]
    public async Task Segment_files_have_the_documented_layout()
    {
        using var dir = new TempDirectory();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            await log.AppendAsync("abc"u8.ToArray());
            await log.AppendAsync(Array.Empty<byte>());
        }
        byte[] file = File.ReadAllBytes(dir.Segments().Single());
        Assert.Equal(16 + 16 + 3 + 16, file.Length);
        Assert.Equal("IWAL"u8.ToArray(), file[..4]);
        Assert.Equal(1, BitConverter.ToUInt16(file, 4));
        Assert.Equal(1L, BitConverter.ToInt64(file, 8));
        Assert.Equal(3u, BitConverter.ToUInt32(file, 16));
        Assert.Equal(WalCrc.Compute("abc"u8, 1), BitConverter.ToUInt32(file, 20));
        Assert.Equal(1L, BitConverter.ToInt64(file, 24));
        Assert.Equal("abc"u8.ToArray(), file[32..35]);
        Assert.Equal(0u, BitConverter.ToUInt32(file, 35));
        Assert.Equal(2L, BitConverter.ToInt64(file, 43));
    }

    [Fact]
    public async Task ReadFrom_runs_alongside_appends_and_sees_contiguous_records()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 4096, mode: WalSyncMode.Interval));
        const int total = 3000;
        for (int i = 1; i <= 100; i++)
            await log.AppendAsync(Wal.Payload(i, 40 + i % 50));

        Task writer = Task.Run(async () =>
        {
            for (int i = 101; i <= total; i++)
                await log.AppendAsync(Wal.Payload(i, 40 + i % 50));
        });

        long next = 1;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (next <= total && DateTime.UtcNow < deadline)
        {
            foreach (WalRecord record in log.ReadFrom(next))
            {
                Assert.Equal(next, record.Sequence);
                Assert.Equal(Wal.Payload(next, 40 + (int)(next % 50)), record.Payload.ToArray());
                next++;
            }
        }
        await writer;
        Assert.Equal(total + 1, next);
    }

    [Fact]
    public async Task Interval_mode_acknowledges_without_an_fsync_per_append_and_is_durable_after_dispose()
    {
        using var dir = new TempDirectory();
        var payloads = Enumerable.Range(1, 300).Select(i => Wal.Payload(i, 100)).ToList();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: WalSyncMode.Interval, syncInterval: TimeSpan.FromHours(1))))
        {
            long[] sequences = await Task.WhenAll(Enumerable.Range(0, 6).Select(t => Task.Run(async () =>
            {
                var mine = new List<long>();
                for (int i = t; i < payloads.Count; i += 6)
                    mine.Add(await log.AppendAsync(payloads[i]));
                return mine;
            }))).ContinueWith(t => t.Result.SelectMany(x => x).ToArray());
            Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), sequences.Order());
            Assert.True(log.FsyncCount <= 1, $"{log.FsyncCount} fsyncs (only the new segment's header is synced)");
        }

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: WalSyncMode.Interval)))
        {
            Assert.True(log.Recovery.IsClean);
            Assert.Equal(300, Wal.ReadAll(log).Count);
        }
    }

    [Fact]
    public async Task Interval_mode_syncs_in_the_background()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Wal.Options(dir, mode: WalSyncMode.Interval, syncInterval: TimeSpan.FromMilliseconds(20)));
        var durations = new List<TimeSpan>();
        log.FsyncCompleted += d => { lock (durations) durations.Add(d); };
        await log.AppendAsync(Wal.Payload(1, 10));
        long before = log.FsyncCount;
        await log.AppendAsync(Wal.Payload(2, 10));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (log.FsyncCount == before && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.True(log.FsyncCount > before);
        lock (durations)
            Assert.NotEmpty(durations);
    }

    [Fact]
    public async Task A_process_crash_in_interval_mode_loses_nothing_written_to_the_OS()
    {
        using var dir = new TempDirectory();
        var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 2048, mode: WalSyncMode.Interval, syncInterval: TimeSpan.FromHours(1)));
        for (int i = 1; i <= 50; i++)
            await log.AppendAsync(Wal.Payload(i, 90));
        log.SimulateProcessCrash();

        await using var reopened = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 2048, mode: WalSyncMode.Interval));
        Assert.Equal(50, reopened.Recovery.RecordsFound);
        AssertRecords(Enumerable.Range(1, 50).Select(i => Wal.Payload(i, 90)).ToList(), 1, Wal.ReadAll(reopened));
        Assert.Equal(51, await reopened.AppendAsync(Wal.Payload(51, 1)));
    }

    [Fact]
    public async Task A_second_instance_cannot_open_the_same_directory()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        Assert.Throws<IOException>(() => WriteAheadLog.Open(Wal.Options(dir)));
    }

    [Fact]
    public async Task Appends_after_dispose_throw_and_queued_ones_complete()
    {
        using var dir = new TempDirectory();
        var log = WriteAheadLog.Open(Wal.Options(dir));
        var pending = Enumerable.Range(1, 20).Select(i => log.AppendAsync(Wal.Payload(i, 10)).AsTask()).ToList();
        await log.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => { _ = log.AppendAsync(new byte[1]); });
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), (await Task.WhenAll(pending)).Order());
    }

    [Fact]
    public async Task A_cancelled_token_is_honoured_before_queueing()
    {
        using var dir = new TempDirectory();
        await using var log = WriteAheadLog.Open(Wal.Options(dir));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await log.AppendAsync(new byte[1], new CancellationToken(true)));
        Assert.Equal(1, await log.AppendAsync(new byte[1]));
    }

    [Theory]
    [InlineData(WalSyncMode.PerWrite)]
    [InlineData(WalSyncMode.Interval)]
    public async Task A_record_appended_as_head_and_body_reads_back_as_one_payload(WalSyncMode mode)
    {
        using var dir = new TempDirectory();
        // Heads and bodies on both sides of the size the writer copies rather than gathers (4 KiB), empty ones, and
        // bodies larger than its staging buffer (1 MiB); queued without waiting, so that one write takes many of
        // them, more than its part limit.
        int[] sizes = [0, 1, 9, 700, 4095, 4096, 5000, 20_000, 1_300_000];
        var heads = new List<byte[]>();
        var bodies = new List<byte[]>();
        for (int i = 0; i < 400; i++)
        {
            int headLength = i % 5 == 0 ? 0 : sizes[i % 4] + i % 3;
            int bodyLength = i % 37 == 0 ? sizes[^1] : sizes[(i * 7) % (sizes.Length - 1)];
            heads.Add(Wal.Payload(i + 1, headLength));
            bodies.Add(Wal.Payload(-(i + 1), bodyLength));
        }
        var payloads = heads.Zip(bodies, (h, b) => h.Concat(b).ToArray()).ToList();

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: mode)))
        {
            var appends = new List<Task<long>>();
            for (int i = 0; i < heads.Count; i++)
                appends.Add(log.AppendAsync(heads[i], bodies[i]).AsTask());
            Assert.Equal(Enumerable.Range(1, heads.Count).Select(i => (long)i), await Task.WhenAll(appends));
            AssertRecords(payloads, 1, Wal.ReadAll(log));
        }

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: mode)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            AssertRecords(payloads, 1, Wal.ReadAll(log));
        }
    }

    internal static void AssertRecords(IReadOnlyList<byte[]> payloads, long from, List<(long Sequence, byte[] Payload)> records)
    {
        Assert.Equal(payloads.Count - from + 1, records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            Assert.Equal(from + i, records[i].Sequence);
            Assert.Equal(payloads[(int)(from - 1 + i)], records[i].Payload);
        }
    }
}
