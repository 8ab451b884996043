using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Ingest.Durability;
using Ingest.LineProtocol;

namespace Ingest.Tests;

/// <summary>
/// <see cref="SequenceTracker"/>: a consumer's checkpoint is the highest record below which nothing is pending,
/// although records finish out of order and some are counted more than once.
/// </summary>
public class DurabilitySequenceTrackerTests
{
    [Fact]
    public void A_new_tracker_starts_at_its_checkpoint_with_nothing_pending()
    {
        var t = new SequenceTracker(41);
        Assert.Equal(41, t.Checkpoint);
        Assert.Equal(41, t.Highest);
        Assert.Equal(0, t.Pending);
        Assert.Equal(long.MaxValue, t.OldestPending);
    }

    [Fact]
    public void Out_of_order_completion_moves_the_checkpoint_only_up_to_the_oldest_pending_record()
    {
        var t = new SequenceTracker(10);
        for (long s = 11; s <= 15; s++) t.Add(s);
        Assert.Equal(10, t.Checkpoint);
        Assert.Equal(11, t.OldestPending);
        Assert.Equal(15, t.Highest);
        Assert.Equal(5, t.Pending);

        // 13 and 15 finish first: nothing moves, 11 is still pending.
        t.Complete(13);
        t.Complete(15);
        Assert.Equal(10, t.Checkpoint);
        Assert.Equal(11, t.OldestPending);
        Assert.Equal(3, t.Pending);

        // 11 finishes: up to 11 (12 pending).
        t.Complete(11);
        Assert.Equal(11, t.Checkpoint);
        Assert.Equal(12, t.OldestPending);

        // 12 finishes: 13 was done already, 14 is pending.
        t.Complete(12);
        Assert.Equal(13, t.Checkpoint);
        Assert.Equal(14, t.OldestPending);

        t.Complete(14);
        Assert.Equal(15, t.Checkpoint);
        Assert.Equal(long.MaxValue, t.OldestPending);
        Assert.Equal(0, t.Pending);
    }

    [Fact]
    public void A_record_added_twice_needs_two_completions()
    {
        var t = new SequenceTracker(0);
        t.Add(1);
        t.Add(2);
        t.Add(2); // e.g. two derived batches tagged with the same record
        t.Add(3);
        t.Complete(1);
        t.Complete(3);
        t.Complete(2);
        Assert.Equal(1, t.Checkpoint);
        Assert.Equal(2, t.OldestPending);
        Assert.Equal(1, t.Pending);

        t.Complete(2);
        Assert.Equal(3, t.Checkpoint);
        Assert.Equal(0, t.Pending);
        Assert.Equal(long.MaxValue, t.OldestPending);
    }

    [Fact]
    public void Completing_more_often_than_added_or_an_unknown_record_changes_nothing()
    {
        var t = new SequenceTracker(0);
        t.Add(5);
        t.Add(6);
        t.Complete(4);   // never added
        t.Complete(99);  // never added
        Assert.Equal(4, t.Checkpoint);
        Assert.Equal(2, t.Pending);

        t.Complete(5);
        t.Complete(5);   // once too often: must not make a later Add(5) look finished
        Assert.Equal(5, t.Checkpoint);
        t.Add(5);
        Assert.Equal(4, t.Checkpoint);
        Assert.Equal(5, t.OldestPending);
    }

    [Fact]
    public void Sequences_of_zero_or_below_are_ignored()
    {
        var t = new SequenceTracker(7);
        t.Add(0);
        t.Add(-1);
        t.Add(long.MinValue);
        Assert.Equal(0, t.Pending);
        Assert.Equal(7, t.Checkpoint);
        Assert.Equal(7, t.Highest);
        Assert.Equal(long.MaxValue, t.OldestPending);

        t.Add(8);
        t.Complete(0);
        t.Complete(-8);
        Assert.Equal(1, t.Pending);
        Assert.Equal(7, t.Checkpoint);
    }

    [Fact]
    public void OldestPending_is_the_lowest_pending_record_whatever_the_order_of_adds()
    {
        var t = new SequenceTracker(0);
        foreach (var s in new long[] { 40, 12, 33, 12, 90 }) t.Add(s);
        Assert.Equal(12, t.OldestPending);
        Assert.Equal(11, t.Checkpoint);
        Assert.Equal(90, t.Highest);
        t.Complete(12);
        Assert.Equal(12, t.OldestPending);
        t.Complete(12);
        Assert.Equal(33, t.OldestPending);
        Assert.Equal(32, t.Checkpoint);
    }

    [Fact]
    public void Concurrent_adds_and_completions_in_random_order_end_at_the_highest_record()
    {
        const int Threads = 4, PerThread = 5000;
        var t = new SequenceTracker(0);
        var adds = Enumerable.Range(0, Threads).Select(k => Task.Run(() =>
        {
            for (long i = 0; i < PerThread; i++) t.Add(1 + i * Threads + k);
        })).ToArray();
        Task.WaitAll(adds);
        Assert.Equal(Threads * PerThread, t.Pending);
        Assert.Equal(0, t.Checkpoint);

        var order = Enumerable.Range(1, Threads * PerThread).Select(i => (long)i).OrderBy(_ => Random.Shared.Next()).ToArray();
        long observedMax = 0;
        var completions = Enumerable.Range(0, Threads).Select(k => Task.Run(() =>
        {
            for (int i = k; i < order.Length; i += Threads)
            {
                t.Complete(order[i]);
                var c = t.Checkpoint;
                // The checkpoint never passes a record that is still pending.
                var oldest = t.OldestPending;
                // (read after the checkpoint: the oldest pending record only moves up during this phase)
                if (oldest != long.MaxValue && c >= oldest)
                    throw new InvalidOperationException($"checkpoint {c} at or past pending record {oldest}");
                InterlockedMax(ref observedMax, c);
            }
        })).ToArray();
        Task.WaitAll(completions);
        Assert.Equal(0, t.Pending);
        Assert.Equal(Threads * PerThread, t.Checkpoint);
        Assert.Equal(long.MaxValue, t.OldestPending);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}

/// <summary><see cref="BatchRecord"/>: a batch survives the log byte for byte, and what is not a batch is refused.</summary>
public class DurabilityBatchRecordTests
{
    private static readonly LineProtocolParser Parser = new();

    private static PointBatch Parse(string body, string database, string retentionPolicy)
    {
        var b = PointBatch.Rent();
        b.Database = database;
        b.RetentionPolicy = retentionPolicy;
        var summary = Parser.Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 1_700_000_000_000_000_000, b);
        Assert.True(summary.BadLines == 0, $"test data has bad lines: {summary.FirstError}");
        return b;
    }

    private static byte[] EncodeToArray(PointBatch batch)
    {
        // The record as the log holds it: the head, then the batch's lines.
        var (buffer, length) = BatchRecord.EncodeHead(batch);
        try
        {
            return [.. buffer.AsSpan(0, length), .. batch.Data];
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Escapes of every kind: measurement (space, comma), tag keys and values (space, comma, equals sign), field keys,
    // string fields with quotes, backslashes and a newline, UTF-8 everywhere, and every field type.
    private const string Body =
        "cpu\\ load\\,x,host=a\\ b,region=eu\\,west,k\\=y=v\\=w usage=1.5,idle=98i,ok=true 1700000000000000001\n" +
        "wetter,stadt=Zürich,straße=Bahnhofstraße temperatur=-3.25,\"notiz\"=\"sagt \\\"hallo\\\" \\\\ ä\" 1700000000000000002\n" +
        "mem,host=a used=7u,free=1e10,msg=\"line one\nline two\" 1700000000000000003\n" +
        "emoji,tag=🙂 v=1 -5\n" +
        "m\\ 4,z=1,a=2 f\\ g\\,h\\=i=0 1700000000000000004\n";

    [Fact]
    public void A_batch_round_trips_with_database_retention_policy_every_point_and_the_sequence()
    {
        var original = Parse(Body, "métriques_ü", "häufig 30 Tage/日");
        Assert.Equal(5, original.Count);
        var record = EncodeToArray(original);

        // The header is as documented: u16 length, database, u16 length, retention policy, then the canonical lines.
        int db = BinaryPrimitives.ReadUInt16LittleEndian(record);
        Assert.Equal(Encoding.UTF8.GetByteCount("métriques_ü"), db);
        int rp = BinaryPrimitives.ReadUInt16LittleEndian(record.AsSpan(2 + db));
        Assert.Equal(Encoding.UTF8.GetByteCount("häufig 30 Tage/日"), rp);
        Assert.Equal(original.Data.ToArray(), record.AsSpan(4 + db + rp).ToArray());

        var decoded = BatchRecord.Decode(record, 123_456_789_012);
        try
        {
            Assert.Equal("métriques_ü", decoded.Database);
            Assert.Equal("häufig 30 Tage/日", decoded.RetentionPolicy);
            Assert.Equal(123_456_789_012, decoded.Sequence);
            Assert.Equal(original.Count, decoded.Count);
            Assert.Equal(Encoding.UTF8.GetString(original.Data), Encoding.UTF8.GetString(decoded.Data));
            for (int i = 0; i < original.Count; i++)
            {
                Assert.Equal(Encoding.UTF8.GetString(original.Line(i)), Encoding.UTF8.GetString(decoded.Line(i)));
                Assert.Equal(Encoding.UTF8.GetString(original.SeriesKey(i)), Encoding.UTF8.GetString(decoded.SeriesKey(i)));
                Assert.Equal(Encoding.UTF8.GetString(original.Fields(i)), Encoding.UTF8.GetString(decoded.Fields(i)));
                Assert.Equal(original.Points[i].Timestamp, decoded.Points[i].Timestamp);
                Assert.Equal(original.Points[i].SeriesHash, decoded.Points[i].SeriesHash);
            }
            Assert.Equal(new long[] { 1700000000000000001, 1700000000000000002, 1700000000000000003, -5, 1700000000000000004 },
                decoded.Points.ToArray().Select(p => p.Timestamp).ToArray());

            // Encoding the decoded batch gives the same record again.
            Assert.Equal(record, EncodeToArray(decoded));
        }
        finally
        {
            PointBatch.Return(decoded);
            PointBatch.Return(original);
        }
    }

    [Fact]
    public void Empty_names_and_a_large_batch_round_trip()
    {
        var body = new StringBuilder();
        for (int i = 0; i < 20_000; i++) body.Append("big,series=s").Append(i % 13).Append(" v=").Append(i).Append(",n=").Append(i).Append("i ").Append(1_000_000_000L + i).Append('\n');
        var original = Parse(body.ToString(), "", "");
        var record = EncodeToArray(original);
        Assert.Equal(4 + original.ByteLength, record.Length);
        var decoded = BatchRecord.Decode(record, 1);
        try
        {
            Assert.Equal("", decoded.Database);
            Assert.Equal("", decoded.RetentionPolicy);
            Assert.Equal(1, decoded.Sequence);
            Assert.Equal(20_000, decoded.Count);
            Assert.True(original.Data.SequenceEqual(decoded.Data));
            Assert.Equal(1_000_000_000L + 19_999, decoded.Points[^1].Timestamp);
        }
        finally
        {
            PointBatch.Return(decoded);
            PointBatch.Return(original);
        }
    }

    [Fact]
    public void Every_cut_inside_the_header_or_names_is_a_FormatException()
    {
        var original = Parse("m,t=1 v=1 1\n", "datenbank", "rp_ä");
        var record = EncodeToArray(original);
        PointBatch.Return(original);
        int headerEnd = 4 + Encoding.UTF8.GetByteCount("datenbank") + Encoding.UTF8.GetByteCount("rp_ä");
        for (int cut = 0; cut < headerEnd; cut++)
        {
            var c = cut;
            var e = Assert.Throws<FormatException>(() => BatchRecord.Decode(record.AsSpan(0, c), 9));
            Assert.False(string.IsNullOrEmpty(e.Message));
        }
    }

    [Theory]
    [InlineData("m,t=1 v")]                // cut inside the field set
    [InlineData("m,t=1 v=")]               // field without a value
    [InlineData("m,t=1")]                  // no fields at all
    [InlineData("m,t=1 v=\"unterminated")] // cut inside a string field
    [InlineData("m,t=1 v=1 12x")]          // bad timestamp
    public void A_record_whose_line_protocol_was_cut_mid_line_is_a_FormatException(string tail)
    {
        var good = "ok,t=1 v=1 1\n";
        var record = Header("db", "rp").Concat(Encoding.UTF8.GetBytes(good + tail)).ToArray();
        var e = Assert.Throws<FormatException>(() => BatchRecord.Decode(record, 3));
        Assert.Contains("unreadable", e.Message);
    }

    [Fact]
    public void Garbage_is_a_FormatException()
    {
        // A database length that runs past the record.
        var tooLongDb = new byte[] { 0xFF, 0xFF, (byte)'a', (byte)'b', 0, 0 };
        Assert.Throws<FormatException>(() => BatchRecord.Decode(tooLongDb, 1));

        // A retention policy length that runs past the record.
        var tooLongRp = Header("db", "").ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(tooLongRp.AsSpan(2 + 2), 500);
        Assert.Throws<FormatException>(() => BatchRecord.Decode(tooLongRp.Concat(Encoding.UTF8.GetBytes("m v=1 1\n")).ToArray(), 1));

        // A valid header followed by bytes that are no line protocol.
        var junk = Header("db", "rp").Concat(new byte[] { 0x00, 0x01, 0x02, 0x20, 0xC3, 0x28, 0x0A, 0x7F, 0x20, 0x3D, 0x0A }).ToArray();
        Assert.Throws<FormatException>(() => BatchRecord.Decode(junk, 1));

        var words = Header("db", "rp").Concat(Encoding.UTF8.GetBytes("this is not line protocol\n")).ToArray();
        Assert.Throws<FormatException>(() => BatchRecord.Decode(words, 1));

        // Deterministic random garbage of many sizes: never anything but a FormatException (or a batch, when the
        // bytes happen to hold valid lines).
        var rng = new Random(1234);
        for (int n = 0; n < 2000; n++)
        {
            var bytes = new byte[rng.Next(0, 64)];
            rng.NextBytes(bytes);
            try
            {
                var b = BatchRecord.Decode(bytes, 1);
                PointBatch.Return(b);
            }
            catch (FormatException)
            {
            }
        }
    }

    [Fact]
    public void A_name_too_long_for_the_u16_length_is_refused_at_encoding()
    {
        var b = Parse("m v=1 1\n", new string('x', 70_000), "");
        try
        {
            Assert.Throws<ArgumentException>(() => BatchRecord.EncodeHead(b));
        }
        finally
        {
            PointBatch.Return(b);
        }
    }

    private static IEnumerable<byte> Header(string db, string rp)
    {
        var d = Encoding.UTF8.GetBytes(db);
        var r = Encoding.UTF8.GetBytes(rp);
        var h = new byte[4 + d.Length + r.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)d.Length);
        d.CopyTo(h, 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(2 + d.Length), (ushort)r.Length);
        r.CopyTo(h, 4 + d.Length);
        return h;
    }
}

/// <summary>
/// <see cref="DurableLog"/> with a real log directory: the raw consumer's checkpoint (what the log may forget, and
/// where a replay after a crash starts) must never cover a record whose append has not even returned yet.
/// </summary>
public class DurabilityDurableLogTests
{
    /// <summary>
    /// Concurrent writes, each "delivered" (completed) as soon as its append returns, while another thread reads
    /// <c>Raw.Checkpoint</c> as the checkpoint loop does. A checkpoint that covers a sequence whose append has not
    /// returned (so it was never added to the tracker) would, once persisted, make a restart skip that record: after
    /// the append returns, the write is answered 2xx, and a crash before its delivery loses it.
    /// </summary>
    [Fact]
    public async Task The_raw_checkpoint_never_covers_a_record_whose_append_has_not_returned()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ingest-durablelog-" + Guid.NewGuid().ToString("N"));
        var options = new Ingest.Configuration.IngestOptions
        {
            Wal = new Ingest.Configuration.WalSettings { Directory = dir, SyncMode = Ingest.Wal.WalSyncMode.Interval },
        };
        var log = new DurableLog(options, TestMeters.Create(), Microsoft.Extensions.Logging.Abstractions.NullLogger<DurableLog>.Instance);
        try
        {
            // Runs 3 s or 20 000 appends, whichever comes first, but never ends before 1 000 appends: a slow or busy
            // machine runs longer rather than checking fewer interleavings (the 60 s cap only stops a hung run).
            const long Enough = 20_000, AtLeast = 1_000;
            var started = System.Diagnostics.Stopwatch.StartNew();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var returned = new System.Collections.Concurrent.ConcurrentDictionary<long, bool>();
            long appends = 0, checks = 0;
            string? violation = null;
            var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                var batch = TestBatches.Make(1);
                while (!stop.IsCancellationRequested)
                {
                    Assert.True(await log.AppendAsync(batch, CancellationToken.None));
                    returned[batch.Sequence] = true; // before Complete: a checkpoint covering it may be read from now on
                    log.Ledger.Finished(LedgerConsumer.Raw, batch);
                    var done = Interlocked.Increment(ref appends);
                    if (done >= Enough || (done >= AtLeast && started.Elapsed >= TimeSpan.FromSeconds(3))) stop.Cancel();
                }
            })).ToArray();
            var monitor = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var c = log.Ledger.Checkpoint(LedgerConsumer.Raw);
                    checks++;
                    for (long s = Math.Max(1, c - 32); s <= c; s++)
                    {
                        if (returned.ContainsKey(s)) continue;
                        violation = $"Raw.Checkpoint was {c} while the append of record {s} had not returned (so no Raw.Add({s}) yet); " +
                                    $"DurableLog.Checkpoint would hand {c} to the log, and after a crash record {s} (answered 2xx a moment later) " +
                                    "would not be replayed";
                        stop.Cancel();
                        return;
                    }
                    if (checks % 64 == 0) await Task.Yield();
                }
            });
            await Task.WhenAll(writers.Append(monitor));
            Assert.True(violation is null, $"{violation} (after {appends} appends, {checks} checks)");
            Assert.True(appends >= AtLeast, $"only {appends} appends in {started.Elapsed.TotalSeconds:F0} s");
        }
        finally
        {
            log.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
