namespace Ingest.Wal;

/// <summary>Why an append was refused as "full".</summary>
public enum WalFullReason
{
    /// <summary>The live segments would exceed <see cref="WalOptions.MaxBytes"/>; nothing was written.</summary>
    SizeLimit,

    /// <summary>The file system reported no space (ENOSPC, quota); whatever was partly written was truncated away.</summary>
    DiskFull,
}

/// <summary>
/// An append was refused because the log is full, either by its own limit or because the disk is. The record is
/// not in the log; the log stays usable, and the same append can succeed once space is freed (checkpoints,
/// <see cref="WriteAheadLog.DropOldestSegment"/>, or disk space).
/// </summary>
public sealed class WalFullException : IOException
{
    public WalFullException(string message, WalFullReason reason, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public WalFullReason Reason { get; }
}
