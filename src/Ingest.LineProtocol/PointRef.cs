namespace Ingest.LineProtocol;

/// <summary>
/// One point inside a <see cref="PointBatch"/>, as offsets into the batch's canonical line-protocol bytes.
/// A canonical line is <c>series-key SP fields SP timestamp LF</c>: the series key is the measurement and its
/// tags sorted by key, escaped as on the wire; the timestamp is always present, in nanoseconds.
/// </summary>
/// <param name="Offset">Start of the line in <see cref="PointBatch.Data"/>.</param>
/// <param name="LineLength">Length of the whole line, including its trailing LF.</param>
/// <param name="SeriesKeyLength">Length of the series key (measurement plus tags) at the start of the line.</param>
/// <param name="FieldsLength">Length of the field set, which starts one byte after the series key.</param>
/// <param name="Timestamp">Event time in nanoseconds since the Unix epoch.</param>
/// <param name="SeriesHash">A 64-bit hash of the series key bytes (stable across processes and runs).</param>
public readonly record struct PointRef(
    int Offset,
    int LineLength,
    int SeriesKeyLength,
    int FieldsLength,
    long Timestamp,
    ulong SeriesHash)
{
    /// <summary>Start of the field set in <see cref="PointBatch.Data"/>.</summary>
    public int FieldsOffset => Offset + SeriesKeyLength + 1;
}
