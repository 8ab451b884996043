namespace Ingest.LineProtocol;

/// <summary>Why a line was rejected. Kept as a code on the hot path; turned into text only when reported.</summary>
internal enum LineFault : byte
{
    None,
    MissingMeasurement,
    MissingFields,
    MissingTagKey,
    MissingTagValue,
    InvalidTagFormat,
    DuplicateTags,
    ReservedTagKey,
    MaxKeyLengthExceeded,
    MissingFieldKey,
    MissingFieldValue,
    InvalidFieldFormat,
    UnbalancedQuotes,
    InvalidNumber,
    InvalidFloat,
    IntegerOutOfRange,
    UnsignedOutOfRange,
    UnsignedTooLargeForInteger,
    InvalidBoolean,
    BadTimestamp,
    TimestampOutOfRange,
    TrailingDataAfterTimestamp,
    TimeIsOnlyField,
    InvalidUtf8,

    /// <summary>Not a fault of the line: the caller's tag scratch space is too small; retry with more.</summary>
    NeedMoreTagSpace,
}

/// <summary>A fault plus the part of the line it is about (for the message).</summary>
internal readonly record struct Fault(LineFault Kind, int Start = 0, int Length = 0)
{
    public static readonly Fault None = default;
    public bool IsNone => Kind == LineFault.None;
}
