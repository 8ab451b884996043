using System.Collections.Concurrent;

namespace Ingest.Wal.Tests;

public sealed class GroupCommitTests
{
    [Fact]
    public async Task Concurrent_appenders_share_fsyncs_and_every_acknowledged_record_is_durable()
    {
        using var dir = new TempDirectory();
        const int appenders = 64, perAppender = 20;
        var acknowledged = new ConcurrentDictionary<long, byte[]>();
        long fsyncEvents = 0;

        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 16 * 1024)))
        {
            log.FsyncCompleted += _ => Interlocked.Increment(ref fsyncEvents);
            long fsyncsBefore = log.FsyncCount;
            using var start = new ManualResetEventSlim();
            Task[] tasks = Enumerable.Range(0, appenders).Select(a => Task.Run(async () =>
            {
                start.Wait();
                for (int i = 0; i < perAppender; i++)
                {
                    byte[] payload = Wal.Payload(a * 1000 + i, 50 + (a + i) % 200);
                    long sequence = await log.AppendAsync(payload);
                    Assert.True(acknowledged.TryAdd(sequence, payload), $"sequence {sequence} given twice");
                }
            })).ToArray();
            start.Set();
            await Task.WhenAll(tasks);

            long fsyncs = log.FsyncCount - fsyncsBefore;
            Assert.True(fsyncs < appenders * perAppender, $"{fsyncs} fsyncs for {appenders * perAppender} appends");
            Assert.Equal(log.FsyncCount, Interlocked.Read(ref fsyncEvents) + fsyncsBefore);
            Assert.Equal(appenders * perAppender, log.LastSequence);
        }

        Assert.Equal(Enumerable.Range(1, appenders * perAppender).Select(i => (long)i), acknowledged.Keys.Order());
        await using (var log = WriteAheadLog.Open(Wal.Options(dir, segmentBytes: 16 * 1024)))
        {
            Assert.True(log.Recovery.IsClean, log.Recovery.ToString());
            var records = Wal.ReadAll(log);
            Assert.Equal(appenders * perAppender, records.Count);
            foreach ((long sequence, byte[] payload) in records)
                Assert.Equal(acknowledged[sequence], payload);
        }
    }
}
