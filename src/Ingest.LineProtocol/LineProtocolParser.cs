namespace Ingest.LineProtocol;

/// <summary>Parser settings. Immutable; one instance is shared by all requests.</summary>
public sealed record ParserOptions
{
    /// <summary>
    /// Rewrite unsigned (<c>u</c>) field values as integers (<c>i</c>) in the canonical output, for InfluxDB 1.x
    /// sinks, which reject <c>u</c>. A value above <see cref="long.MaxValue"/> then makes the line bad.
    /// </summary>
    public bool UnsignedAsInteger { get; init; }

    /// <summary>How many line errors a parse keeps in detail (the rest are only counted).</summary>
    public int MaxReportedErrors { get; init; } = 10;

    /// <summary>Longest line text quoted in an error message, in bytes.</summary>
    public int MaxQuotedLineBytes { get; init; } = 256;
}

/// <summary>A line that could not be parsed: its 1-based line number in the body, its text, and why.</summary>
public sealed record LineError(int LineNumber, string Line, string Reason)
{
    /// <summary>InfluxDB's wording plus the line number: <c>unable to parse '…': bad timestamp (line 3)</c>.</summary>
    public override string ToString() => $"unable to parse '{Line}': {Reason} (line {LineNumber})";
}

/// <summary>What a parse of one body produced.</summary>
public readonly record struct ParseSummary(int Points, int BadLines, IReadOnlyList<LineError> Errors)
{
    public LineError? FirstError => Errors.Count > 0 ? Errors[0] : null;
}

/// <summary>
/// InfluxDB line protocol parser working on bytes. Thread-safe and stateless: call it from any number of requests.
/// </summary>
public sealed partial class LineProtocolParser
{
    public LineProtocolParser(ParserOptions? options = null)
    {
        Options = options ?? new ParserOptions();
    }

    public ParserOptions Options { get; }

    /// <summary>
    /// Parses a whole request body. Every valid point is appended to <paramref name="batch"/> in canonical form
    /// (see <see cref="PointRef"/>); bad lines are skipped and reported, and the good lines around them kept.
    /// A line without a timestamp gets <paramref name="nowNanoseconds"/> truncated to <paramref name="precision"/>.
    /// Allocates nothing per line once the batch's buffers have grown (errors aside).
    /// </summary>
    public ParseSummary Parse(ReadOnlySpan<byte> body, Precision precision, long nowNanoseconds, PointBatch batch)
        => throw new NotImplementedException();
}
