namespace Ingest.Transforms.Downsample;

/// <summary>One series in one window of a tier: the head of its field states and its place in the hash chain.</summary>
internal struct SeriesWindow
{
    public const byte EmittedFlag = 1;  // written at least once: a later write is a re-emission
    public const byte QueuedFlag = 2;   // in the tier's re-emission queue
    public const byte LiveFlag = 4;
    public const byte SnapshotFlag = 8; // in the snapshot being written, and not written yet

    public int Series;
    public long Start;
    public int FirstField;
    /// <summary>Its place among the windows of a snapshot being written (valid while <see cref="SnapshotFlag"/> is set).</summary>
    public int SnapshotOrdinal;
    public int HashNext;
    public byte Flags;

    public readonly bool Is(byte flag) => (Flags & flag) != 0;
}
