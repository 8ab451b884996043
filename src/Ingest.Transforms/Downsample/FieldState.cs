namespace Ingest.Transforms.Downsample;

/// <summary>
/// The mergeable state of one field in one window of one series. Everything needed for any aggregate is kept
/// (they cost the same few doubles); only the sketch is optional. Linked into its series window by
/// <see cref="Next"/>, slots being reused from a free list so that a new window allocates nothing.
/// </summary>
internal struct FieldState
{
    public int FieldId;
    public int Next;
    public long Count;
    public double Sum;
    public double Min;
    public double Max;
    public double First;
    public double Last;
    public long FirstTime;
    public long LastTime;
    public LogSketch? Sketch;

    public void Reset(int fieldId, LogSketch? sketch)
    {
        FieldId = fieldId;
        Next = -1;
        Count = 0;
        Sum = 0;
        Min = double.PositiveInfinity;
        Max = double.NegativeInfinity;
        First = Last = 0;
        FirstTime = long.MaxValue;
        LastTime = long.MinValue;
        Sketch = sketch;
    }

    /// <summary>
    /// First and last go by event time. On a tie the earlier arrival stays first and the later arrival becomes
    /// last, so a batch of identical timestamps reads as it was sent.
    /// </summary>
    public void Add(double value, long time)
    {
        Count++;
        Sum += value;
        if (value < Min) Min = value;
        if (value > Max) Max = value;
        if (time < FirstTime) { FirstTime = time; First = value; }
        if (time >= LastTime) { LastTime = time; Last = value; }
        Sketch?.Add(value);
    }

    /// <summary>Adds another window's state (a finer tier's, later in arrival on ties, as with points).</summary>
    public void Merge(in FieldState other)
    {
        Count += other.Count;
        Sum += other.Sum;
        if (other.Min < Min) Min = other.Min;
        if (other.Max > Max) Max = other.Max;
        if (other.FirstTime < FirstTime) { FirstTime = other.FirstTime; First = other.First; }
        if (other.LastTime >= LastTime) { LastTime = other.LastTime; Last = other.Last; }
        if (Sketch is not null && other.Sketch is not null) Sketch.Merge(other.Sketch);
    }

    /// <summary>The sketch's estimate clamped to the exact extremes: the true value lies between them, so it only gets closer.</summary>
    public readonly double Percentile(double percentile)
    {
        double estimate = Sketch!.ValueAtRank(LogSketch.PercentileRank(Count, percentile));
        return Math.Clamp(estimate, Min, Max);
    }
}
