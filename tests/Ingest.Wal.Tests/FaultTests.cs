namespace Ingest.Wal.Tests;

public sealed class FaultTests
{
    private const int PayloadBytes = 100;

    [Theory]
    [InlineData(WalSyncMode.PerWrite, 0)]
    [InlineData(WalSyncMode.PerWrite, 20)]
    [InlineData(WalSyncMode.Interval, 70)]
    public async Task A_full_disk_fails_that_append_with_WalFullException_and_the_log_stays_valid(WalSyncMode mode, int partialBytes)
    {
        using var dir = new TempDirectory();
        var plan = new FaultPlan { PartialBytes = partialBytes };
        var payloads = Enumerable.Range(1, 5).Select(i => Wal.Payload(i, PayloadBytes)).ToList();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: mode, hooks: plan.Hooks())))
        {
            await Wal.AppendMany(log, payloads);
            long sizeBefore = log.SizeBytes;
            long fileBefore = new FileInfo(dir.Segments().Single()).Length;

            plan.FailNextWrites(1);
            var error = await Assert.ThrowsAsync<WalFullException>(async () => await log.AppendAsync(Wal.Payload(666, PayloadBytes)));
            Assert.Equal(WalFullReason.DiskFull, error.Reason);
            Assert.Equal(28, error.InnerException!.HResult);
            Assert.Equal(1, plan.FailedWrites);
            Assert.Equal(fileBefore, new FileInfo(dir.Segments().Single()).Length);
            Assert.Equal(sizeBefore, log.SizeBytes);
            Assert.Equal(5, log.LastSequence);

            // The sequence of the failed record goes to the next one.
            byte[] next = Wal.Payload(6, PayloadBytes);
            Assert.Equal(6, await log.AppendAsync(next));
            payloads.Add(next);
            AppendReadTests.AssertRecords(payloads, 1, Wal.ReadAll(log));
        }

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, mode: mode)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            AppendReadTests.AssertRecords(payloads, 1, Wal.ReadAll(log));
        }
    }

    [Fact]
    public async Task Other_write_errors_surface_as_IOException()
    {
        using var dir = new TempDirectory();
        var plan = new FaultPlan { WriteError = new IOException("Input/output error", 5), PartialBytes = 10 };
        await using var log = WriteAheadLog.Open(Wal.Options(dir, hooks: plan.Hooks()));
        await log.AppendAsync(Wal.Payload(1, PayloadBytes));
        plan.FailNextWrites(1);
        var error = await Assert.ThrowsAnyAsync<IOException>(async () => await log.AppendAsync(Wal.Payload(2, PayloadBytes)));
        Assert.IsNotType<WalFullException>(error);
        Assert.Same(plan.WriteError, error.InnerException);
        Assert.Equal(2, await log.AppendAsync(Wal.Payload(2, PayloadBytes)));
    }

    [Fact]
    public async Task A_failed_fsync_fails_the_batch_and_removes_its_records()
    {
        using var dir = new TempDirectory();
        var plan = new FaultPlan();
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, hooks: plan.Hooks())))
        {
            await log.AppendAsync(Wal.Payload(1, PayloadBytes));
            long fileBefore = new FileInfo(dir.Segments().Single()).Length;
            plan.FailNextFlushes(1);
            await Assert.ThrowsAsync<IOException>(async () => await log.AppendAsync(Wal.Payload(99, PayloadBytes)));
            Assert.Equal(fileBefore, new FileInfo(dir.Segments().Single()).Length);
            Assert.Equal(1, log.LastSequence);
            Assert.Equal(2, await log.AppendAsync(Wal.Payload(2, PayloadBytes)));
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir)))
        {
            Assert.True(log.Recovery.IsClean);
            AppendReadTests.AssertRecords([Wal.Payload(1, PayloadBytes), Wal.Payload(2, PayloadBytes)], 1, Wal.ReadAll(log));
        }
    }

    [Fact]
    public async Task A_failure_to_create_the_next_segment_fails_the_append_and_a_retry_rolls()
    {
        using var dir = new TempDirectory();
        var plan = new FaultPlan { OnlyHeaderWrites = true };
        // 16 + 5 * 116 = 596: the sixth record needs a new segment.
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600, hooks: plan.Hooks())))
        {
            await Wal.AppendMany(log, Enumerable.Range(1, 5).Select(i => Wal.Payload(i, PayloadBytes)));
            plan.FailNextWrites(1);
            var error = await Assert.ThrowsAsync<WalFullException>(async () => await log.AppendAsync(Wal.Payload(6, PayloadBytes)));
            Assert.Equal(WalFullReason.DiskFull, error.Reason);
            Assert.Single(dir.Segments());
            Assert.Equal(1, log.SegmentCount);
            Assert.Equal(6, await log.AppendAsync(Wal.Payload(6, PayloadBytes)));
            Assert.Equal(2, log.SegmentCount);
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 600)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            AppendReadTests.AssertRecords(Enumerable.Range(1, 6).Select(i => Wal.Payload(i, PayloadBytes)).ToList(), 1, Wal.ReadAll(log));
        }
    }

    [Fact]
    public async Task A_failing_batch_fails_only_its_records_and_concurrent_appends_keep_working()
    {
        using var dir = new TempDirectory();
        var plan = new FaultPlan { PartialBytes = 1000 };
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<long, byte[]>();
        int failures = 0;
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 8192, hooks: plan.Hooks())))
        {
            Task[] appenders = Enumerable.Range(0, 16).Select(a => Task.Run(async () =>
            {
                for (int i = 0; i < 40; i++)
                {
                    if (a == 0 && i % 10 == 5)
                        plan.FailNextWrites(1);
                    byte[] payload = Wal.Payload(a * 100 + i, 30 + i);
                    try
                    {
                        acknowledged[await log.AppendAsync(payload)] = payload;
                    }
                    catch (WalFullException)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            })).ToArray();
            await Task.WhenAll(appenders);
            Assert.True(failures > 0);
            Assert.Equal(16 * 40 - failures, acknowledged.Count);
            Assert.Equal(Enumerable.Range(1, acknowledged.Count).Select(i => (long)i), acknowledged.Keys.Order());
        }
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 8192)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            var records = Wal.ReadAll(log);
            Assert.Equal(acknowledged.Count, records.Count);
            foreach ((long sequence, byte[] payload) in records)
                Assert.Equal(acknowledged[sequence], payload);
        }
    }
}
