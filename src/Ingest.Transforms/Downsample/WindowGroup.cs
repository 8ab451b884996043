namespace Ingest.Transforms.Downsample;

/// <summary>
/// The open series windows of one tier that share a start. Windows are aligned, so a tier has only a few
/// groups at a time (one per interval inside the lateness), and closing walks a group instead of every series.
/// </summary>
internal sealed class WindowGroup
{
    public long Start;
    public long End;
    public bool Emitted;

    /// <summary>The lowest <see cref="LineProtocol.PointBatch.Sequence"/> that put a value into one of the group's windows.</summary>
    public long FirstSequence = long.MaxValue;
    public int[] Members = new int[64];
    public int Count;

    public void Add(int window)
    {
        if (Count == Members.Length) Array.Resize(ref Members, Members.Length * 2);
        Members[Count++] = window;
    }

    /// <summary>Makes room for <paramref name="count"/> members, to be placed by position (a snapshot being read).</summary>
    public void Presize(int count)
    {
        if (Members.Length < count) Members = new int[count];
        Members.AsSpan(0, count).Fill(-1);
    }

    public void Reset(long start, long end)
    {
        Start = start;
        End = end;
        Emitted = false;
        FirstSequence = long.MaxValue;
        Count = 0;
        // A burst of series must not pin a huge array in the pool for ever.
        if (Members.Length > 1 << 20) Members = new int[64];
    }
}
