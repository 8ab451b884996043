using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Ingest.LineProtocol;

namespace Ingest.Durability;

/// <summary>
/// A point batch as a log record: <c>u16</c> database length, database (UTF-8), <c>u16</c> retention policy
/// length, retention policy, then the batch's canonical line protocol (nanosecond timestamps, one line per point).
/// </summary>
public static class BatchRecord
{
    private static readonly LineProtocolParser Parser = new();

    /// <summary>
    /// The record's head (the names and their lengths), in a pooled buffer the caller returns to
    /// <see cref="ArrayPool{T}.Shared"/>: the record is this followed by <see cref="PointBatch.Data"/>, which the log
    /// writes from the batch itself.
    /// </summary>
    public static (byte[] Buffer, int Length) EncodeHead(PointBatch batch)
    {
        int db = Encoding.UTF8.GetByteCount(batch.Database), rp = Encoding.UTF8.GetByteCount(batch.RetentionPolicy);
        if (db > ushort.MaxValue || rp > ushort.MaxValue) throw new ArgumentException("database or retention policy name too long for a log record");
        int length = 4 + db + rp;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)db);
        Encoding.UTF8.GetBytes(batch.Database, span.Slice(2, db));
        BinaryPrimitives.WriteUInt16LittleEndian(span.Slice(2 + db), (ushort)rp);
        Encoding.UTF8.GetBytes(batch.RetentionPolicy, span.Slice(4 + db, rp));
        return (buffer, length);
    }

    /// <summary>Decodes a record into a rented batch; throws <see cref="FormatException"/> when it is not one.</summary>
    public static PointBatch Decode(ReadOnlySpan<byte> record, long sequence)
    {
        if (record.Length < 4) throw new FormatException("log record too short for a batch header");
        int db = BinaryPrimitives.ReadUInt16LittleEndian(record);
        if (record.Length < 4 + db) throw new FormatException("log record shorter than its database name");
        int rp = BinaryPrimitives.ReadUInt16LittleEndian(record.Slice(2 + db));
        if (record.Length < 4 + db + rp) throw new FormatException("log record shorter than its retention policy name");
        var batch = PointBatch.Rent();
        batch.Database = Encoding.UTF8.GetString(record.Slice(2, db));
        batch.RetentionPolicy = Encoding.UTF8.GetString(record.Slice(4 + db, rp));
        batch.Sequence = sequence;
        var summary = Parser.Parse(record.Slice(4 + db + rp), Precision.Nanoseconds, 0, batch);
        if (summary.BadLines > 0)
        {
            PointBatch.Return(batch);
            throw new FormatException($"log record holds {summary.BadLines} unreadable lines: {summary.FirstError}");
        }
        return batch;
    }
}
