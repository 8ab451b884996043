using System.Buffers;

namespace Ingest.Wal;

public sealed partial class WriteAheadLog
{
    private const int StagingBytes = 1 << 20;

    // The queue: appenders add to _filling under _gate; the writer swaps it with _draining and writes that.
    private readonly object _gate = new(); // a Monitor (Wait/Pulse), not a Lock
    private Batch _filling = new();
    private Batch _draining = new();
    private bool _writerWaiting;

    // Bytes of the live segments and bytes queued but not yet written, both guarded by _gate. The size limit is
    // checked against their sum, so that records in flight count before they reach the disk.
    private long _liveBytes;
    private long _pendingBytes;

    private readonly CompletionPool _completions = new();

    // Writer-thread state.
    private long _nextSequence;
    private byte[]? _staging;
    private readonly List<ReadOnlyMemory<byte>> _parts = new();

    /// <summary>
    /// Appends one record and returns its sequence. In <see cref="WalSyncMode.PerWrite"/> mode the task completes
    /// after the record is fsynced (appends that queue up meanwhile share one fsync); in
    /// <see cref="WalSyncMode.Interval"/> mode after it is written to the operating system.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Thread-safe; records get sequences in the order the calls queue them. The payload is not copied on the
    /// calling thread: the caller must leave <paramref name="payload"/> unchanged until the task completes.
    /// </para>
    /// <para>
    /// <paramref name="cancellationToken"/> is looked at only before the record is queued; a queued record is
    /// written, and the task must be awaited (it is a <see cref="ValueTask{TResult}"/> backed by a pooled
    /// completion: await it exactly once).
    /// </para>
    /// <para>
    /// The task fails with <see cref="WalFullException"/> when the live segments plus the records in flight
    /// would exceed <see cref="WalOptions.MaxBytes"/> (nothing is written), or when the disk is full (whatever
    /// was partly written is truncated away); with <see cref="IOException"/> on other write or fsync errors. In
    /// every case the record is not in the log, its sequence is given to the next record, and the log stays usable.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The payload is larger than <see cref="MaxPayloadBytes"/>.</exception>
    /// <exception cref="ObjectDisposedException">The log is closing or closed.</exception>
    public ValueTask<long> AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (payload.Length > MaxPayloadBytes)
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"A record holds at most {MaxPayloadBytes} bytes.");
        return AppendAsync(payload, ReadOnlyMemory<byte>.Empty, cancellationToken);
    }

    /// <summary>
    /// Appends one record whose payload is <paramref name="head"/> followed by <paramref name="body"/>, as
    /// <see cref="AppendAsync(ReadOnlyMemory{byte}, CancellationToken)"/> does with the two joined, without joining
    /// them: a caller with a small header of its own and a large body need not copy the body. Both must stay
    /// unchanged until the task completes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The payload is larger than <see cref="MaxPayloadBytes"/>.</exception>
    /// <exception cref="ObjectDisposedException">The log is closing or closed.</exception>
    public ValueTask<long> AppendAsync(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<long>(cancellationToken);
        long length = (long)head.Length + body.Length;
        if (length > MaxPayloadBytes)
            throw new ArgumentOutOfRangeException(nameof(body), length, $"A record holds at most {MaxPayloadBytes} bytes.");

        // Checksum the payload here, in parallel with other appenders; the writer only folds in the sequence.
        uint payloadCrc = WalCrc.Update(WalCrc.Update(WalCrc.Initial, head.Span), body.Span);
        long frame = WalFormat.FrameSize((int)length);
        AppendCompletion completion = _completions.Rent();
        short token = completion.Version;

        lock (_gate)
        {
            if (_disposeState != 0)
            {
                _completions.Return(completion);
                throw new ObjectDisposedException(nameof(WriteAheadLog));
            }
            // One segment header of slack: the record may be the first of a new segment.
            if (_liveBytes + _pendingBytes + frame + WalFormat.SegmentHeaderSize > _options.MaxBytes)
            {
                _completions.Return(completion);
                return ValueTask.FromException<long>(new WalFullException(
                    $"The write-ahead log is full ({_liveBytes} bytes live, {_pendingBytes} in flight, limit {_options.MaxBytes}).",
                    WalFullReason.SizeLimit));
            }
            _filling.Add(new PendingAppend(completion, head, body, payloadCrc));
            _pendingBytes += frame;
            if (_writerWaiting)
            {
                _writerWaiting = false;
                Monitor.Pulse(_gate);
            }
        }
        return new ValueTask<long>(completion, token);
    }

    private void WriterLoop()
    {
        try
        {
            while (true)
            {
                Batch batch;
                lock (_gate)
                {
                    while (_filling.Count == 0)
                    {
                        if (_disposeState != 0)
                            return;
                        _writerWaiting = true;
                        Monitor.Wait(_gate);
                    }
                    _writerWaiting = false;
                    batch = _filling;
                    _filling = _draining;
                    _draining = batch;
                }

                try
                {
                    WriteBatch(batch);
                }
                catch (Exception ex)
                {
                    // Not expected (every file operation is handled inside); never leave an appender waiting.
                    FailUncompleted(batch, ex);
                }
                batch.Clear();
            }
        }
        finally
        {
            _writerExited.TrySetResult();
        }
    }

    /// <summary>
    /// Writes a batch: runs of records into the active segment (rolling to a new segment when the next record
    /// does not fit), then in PerWrite mode one fsync, then completes every record.
    /// </summary>
    private void WriteBatch(Batch batch)
    {
        PendingAppend[] items = batch.Items;
        int count = batch.Count;
        long firstSequence = _nextSequence;
        int written = 0;     // items[0, written) are in the log
        int accounted = 0;   // items[0, accounted) moved from pending to live bytes
        Exception? failure = null;

        while (written < count)
        {
            long frame = WalFormat.FrameSize(items[written].Length);
            failure = PrepareSegment(frame, firstSequence, ref written);
            if (failure is not null)
                break;

            Segment segment = _active!;
            long offset = segment.WrittenLength;
            int runStart = written;
            int runEnd = written;
            long runBytes = 0;
            do
            {
                runBytes += WalFormat.FrameSize(items[runEnd].Length);
                runEnd++;
            }
            while (runEnd < count
                   && offset + runBytes + WalFormat.FrameSize(items[runEnd].Length) <= _options.SegmentBytes);

            try
            {
                WriteRun(segment.File!, items, runStart, runEnd, firstSequence + runStart, offset);
            }
            catch (Exception ex)
            {
                failure = ex;
                TruncateTo(segment, offset);
                break;
            }

            segment.WrittenLength = offset + runBytes;
            segment.WrittenLastSequence = firstSequence + runEnd - 1;
            segment.MaybeIndex(firstSequence + runStart, offset);
            lock (_gate)
            {
                _liveBytes += runBytes;
                _pendingBytes -= runBytes;
            }
            accounted = runEnd;
            written = runEnd;
            if (_options.SyncMode == WalSyncMode.Interval)
                segment.Publish();
        }

        if (_options.SyncMode == WalSyncMode.PerWrite && _active is { File: not null } active
            && active.WrittenLength > active.SyncedLength)
        {
            Exception? syncFailure = SyncOrRollBack(active, firstSequence, ref written);
            if (syncFailure is not null)
                failure = syncFailure;
            else
                active.Publish();
        }

        if (accounted < count)
        {
            long unwritten = 0;
            for (int i = accounted; i < count; i++)
                unwritten += WalFormat.FrameSize(items[i].Length);
            lock (_gate)
                _pendingBytes -= unwritten;
        }

        _nextSequence = firstSequence + written;
        if (written > 0)
            Volatile.Write(ref _lastSequence, firstSequence + written - 1);

        for (int i = 0; i < written; i++)
            items[i].Completion.SetResult(firstSequence + i);
        batch.Completed = written;
        if (written < count)
        {
            Exception error = ToAppendFailure(failure ?? new IOException("The record was not written."));
            for (int i = written; i < count; i++)
                items[i].Completion.SetException(error);
            batch.Completed = count;
        }
    }

    /// <summary>
    /// Makes sure the active segment can take a record of <paramref name="frame"/> bytes: repairs a tail left
    /// by a failed write, and rolls to a new segment when there is none or the record does not fit. Returns the
    /// failure that stops this batch, if any (then <paramref name="written"/> may shrink: in PerWrite mode records
    /// whose fsync failed are rolled back).
    /// </summary>
    private Exception? PrepareSegment(long frame, long firstSequence, ref int written)
    {
        Segment? current = _active;
        if (current is { NeedsTruncate: true })
        {
            try
            {
                current.File!.SetLength(current.WrittenLength);
                current.NeedsTruncate = false;
            }
            catch (Exception ex)
            {
                return ex;
            }
        }
        if (current is not null && (!current.HasWrittenRecords || current.WrittenLength + frame <= _options.SegmentBytes))
            return null;

        if (current is not null)
        {
            // A segment is complete on disk before the next one starts: recovery may then treat damage anywhere
            // but in the last segment as corruption rather than as a torn write.
            if (_options.SyncMode == WalSyncMode.PerWrite)
            {
                Exception? syncFailure = SyncOrRollBack(current, firstSequence, ref written);
                if (syncFailure is not null)
                    return syncFailure;
            }
            else
            {
                try
                {
                    Fsync(current.File!);
                }
                catch
                {
                    Interlocked.Increment(ref _fsyncFailures);
                }
            }
        }

        Segment next;
        try
        {
            next = CreateSegment(firstSequence + written);
        }
        catch (Exception ex)
        {
            return ex;
        }

        lock (_syncLock)
            _active = next;
        lock (_segmentsLock)
            _segments.Add(next);
        lock (_gate)
            _liveBytes += WalFormat.SegmentHeaderSize;
        if (current is not null)
        {
            current.Publish();
            current.CloseFile();
            current.Sealed = true;
            // Consumers may already have checkpointed all of it while it was the active segment.
            DeleteConsumedSegments();
        }
        return null;
    }

    /// <summary>Creates a segment file with its header, fsynced, and its name made durable.</summary>
    private Segment CreateSegment(long firstSequence)
    {
        string path = Path.Combine(_directory, WalFormat.SegmentFileName(firstSequence));
        // A header-only leftover of a failed roll may hold the name; anything longer is never overwritten.
        var existing = new FileInfo(path);
        if (existing.Exists && existing.Length <= WalFormat.SegmentHeaderSize)
            existing.Delete();

        IWalFile file = OpenSegmentFile(path, FileMode.CreateNew);
        try
        {
            Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
            WalFormat.WriteSegmentHeader(header, firstSequence);
            file.Write(header, 0);
            Fsync(file);
            DirectorySync.TrySync(_directory);
        }
        catch
        {
            file.Dispose();
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Recovery removes a header-only file.
            }
            throw;
        }

        var segment = new Segment(path, firstSequence)
        {
            File = file,
            WrittenLength = WalFormat.SegmentHeaderSize,
            SyncedLength = WalFormat.SegmentHeaderSize,
            IntervalSyncedLength = WalFormat.SegmentHeaderSize,
        };
        segment.Publish();
        return segment;
    }

    /// <summary>
    /// PerWrite mode: fsyncs <paramref name="segment"/>; when that fails, truncates it back to its last durable
    /// length and forgets the records of this batch that were beyond it.
    /// </summary>
    private Exception? SyncOrRollBack(Segment segment, long firstSequence, ref int written)
    {
        try
        {
            Fsync(segment.File!);
            segment.SyncedLength = segment.WrittenLength;
            segment.SyncedLastSequence = segment.WrittenLastSequence;
            return null;
        }
        catch (Exception ex)
        {
            long dropped = segment.WrittenLength - segment.SyncedLength;
            TruncateTo(segment, segment.SyncedLength);
            segment.WrittenLength = segment.SyncedLength;
            segment.WrittenLastSequence = segment.SyncedLastSequence;
            segment.TrimIndex(segment.SyncedLength);
            lock (_gate)
                _liveBytes -= dropped;
            int kept = (int)Math.Max(0, segment.SyncedLastSequence + 1 - firstSequence);
            written = Math.Min(written, kept);
            return ex;
        }
    }

    /// <summary>Cuts what a failed write or fsync left past <paramref name="length"/>; retried before the next write when it fails.</summary>
    private static void TruncateTo(Segment segment, long length)
    {
        try
        {
            segment.File!.SetLength(length);
            segment.NeedsTruncate = false;
        }
        catch
        {
            segment.NeedsTruncate = true;
        }
    }

    /// <summary>Frames records [<paramref name="start"/>, <paramref name="end"/>) and writes them at <paramref name="offset"/>.</summary>
    private void WriteRun(IWalFile file, PendingAppend[] items, int start, int end, long sequence, long offset)
    {
        // One gathered write (pwritev) per run: record headers and small payload parts are staged, large parts are
        // written from the appenders' own buffers, so most payload bytes are copied only by the kernel.
        // A write that failed left its parts here.
        _parts.Clear();
        var run = new GatheredRun(_staging ??= ArrayPool<byte>.Shared.Rent(StagingBytes), _parts, file, offset);
        for (int i = start; i < end; i++, sequence++)
        {
            ref readonly PendingAppend item = ref items[i];
            run.Header(item.Length, WalCrc.Complete(item.PayloadCrc, sequence), sequence);
            run.Add(item.Head);
            run.Add(item.Body);
        }
        run.Flush();
    }

    /// <summary>The buffers of one gathered write being built; written when the staging buffer or the part list fills.</summary>
    private ref struct GatheredRun(byte[] staging, List<ReadOnlyMemory<byte>> parts, IWalFile file, long offset)
    {
        // Parts smaller than this are copied into the staging buffer: a part of its own costs an iovec and a pin.
        private const int CopyBelow = 4096;
        // Parts per write, well under the kernel's IOV_MAX (1024).
        private const int MaxParts = 256;

        private readonly byte[] _staging = staging;
        private readonly List<ReadOnlyMemory<byte>> _parts = parts;
        private readonly IWalFile _file = file;
        private long _offset = offset;
        private long _bytes;
        private int _staged;      // staging bytes in use until the next write
        private int _pieceStart;  // where the staged bytes not yet in _parts begin

        public void Header(int payloadLength, uint crc, long sequence)
        {
            if (_staging.Length - _staged < WalFormat.RecordHeaderSize || _parts.Count >= MaxParts - 3)
                Flush();
            WalFormat.WriteRecordHeader(_staging.AsSpan(_staged), payloadLength, crc, sequence);
            _staged += WalFormat.RecordHeaderSize;
        }

        public void Add(ReadOnlyMemory<byte> part)
        {
            if (part.IsEmpty)
                return;
            if (part.Length < CopyBelow && part.Length <= _staging.Length - _staged)
            {
                part.Span.CopyTo(_staging.AsSpan(_staged));
                _staged += part.Length;
                return;
            }
            ClosePiece();
            _parts.Add(part);
            _bytes += part.Length;
        }

        public void Flush()
        {
            ClosePiece();
            // One part (small records, all staged) is a plain write: a gathered one pins and allocates per call.
            if (_parts.Count == 1)
                _file.Write(_parts[0].Span, _offset);
            else if (_parts.Count > 1)
                _file.Write(_parts, _offset);
            _offset += _bytes;
            _bytes = 0;
            _parts.Clear();
            _staged = 0;
            _pieceStart = 0;
        }

        private void ClosePiece()
        {
            if (_staged == _pieceStart)
                return;
            _parts.Add(_staging.AsMemory(_pieceStart, _staged - _pieceStart));
            _bytes += _staged - _pieceStart;
            _pieceStart = _staged;
        }
    }

    private static void FailUncompleted(Batch batch, Exception exception)
    {
        Exception error = ToAppendFailure(exception);
        for (int i = batch.Completed; i < batch.Count; i++)
        {
            try
            {
                batch.Items[i].Completion.SetException(error);
            }
            catch (InvalidOperationException)
            {
                // Already completed.
            }
        }
    }

    /// <summary>Interval mode: fsyncs the active segment every <see cref="WalOptions.SyncInterval"/> when it has grown.</summary>
    private void IntervalSyncLoop()
    {
        while (!_stopSync.Wait(_options.SyncInterval))
            SyncActiveSegment();
    }

    private void SyncActiveSegment()
    {
        lock (_syncLock)
        {
            Segment? segment = _active;
            if (segment?.File is null)
                return;
            long target = Volatile.Read(ref segment.WrittenLength);
            if (target <= segment.IntervalSyncedLength)
                return;
            try
            {
                Fsync(segment.File);
                segment.IntervalSyncedLength = target;
            }
            catch
            {
                Interlocked.Increment(ref _fsyncFailures);
            }
        }
    }

    private void ReleaseWriterBuffers()
    {
        byte[]? staging = Interlocked.Exchange(ref _staging, null);
        if (staging is not null)
            ArrayPool<byte>.Shared.Return(staging);
    }

    private readonly struct PendingAppend(AppendCompletion completion, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, uint payloadCrc)
    {
        public AppendCompletion Completion { get; } = completion;
        /// <summary>The payload is the head followed by the body.</summary>
        public ReadOnlyMemory<byte> Head { get; } = head;
        public ReadOnlyMemory<byte> Body { get; } = body;
        public int Length => Head.Length + Body.Length;
        public uint PayloadCrc { get; } = payloadCrc;
    }

    /// <summary>Records queued for one write; reused (its arrays stay allocated).</summary>
    private sealed class Batch
    {
        private const int InitialCapacity = 64;
        private const int RetainedCapacity = 4096;

        public PendingAppend[] Items = new PendingAppend[InitialCapacity];
        public int Count;
        public int Completed;

        public void Add(in PendingAppend item)
        {
            if (Count == Items.Length)
                Array.Resize(ref Items, Items.Length * 2);
            Items[Count++] = item;
        }

        public void Clear()
        {
            // Drop the references to callers' payloads and completions.
            if (Items.Length > RetainedCapacity)
                Items = new PendingAppend[InitialCapacity];
            else
                Array.Clear(Items, 0, Count);
            Count = 0;
            Completed = 0;
        }
    }
}
