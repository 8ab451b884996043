namespace Ingest.Wal;

/// <summary>One record read back by <see cref="WriteAheadLog.ReadFrom"/>.</summary>
/// <remarks>
/// <see cref="Payload"/> points into the reader's buffer: it is valid until the enumerator moves to the next
/// record or is disposed. Copy it (<c>Payload.ToArray()</c>) to keep it longer.
/// </remarks>
public readonly struct WalRecord
{
    public WalRecord(long sequence, ReadOnlyMemory<byte> payload)
    {
        Sequence = sequence;
        Payload = payload;
    }

    /// <summary>The record's sequence: 1, 2, 3, … in append order.</summary>
    public long Sequence { get; }

    /// <summary>The bytes that were appended; valid until the next record is read.</summary>
    public ReadOnlyMemory<byte> Payload { get; }
}
