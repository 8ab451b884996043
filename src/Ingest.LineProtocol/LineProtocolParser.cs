using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

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
    /// A line that is not valid UTF-8 is a bad line; comments and blank lines are skipped unchecked.
    /// Allocates nothing per line once the batch's buffers have grown (errors aside).
    /// </summary>
    public ParseSummary Parse(ReadOnlySpan<byte> body, Precision precision, long nowNanoseconds, PointBatch batch) =>
        Parse(body, precision, nowNanoseconds, batch, pointLines: null);

    /// <summary>
    /// The 1-based line number in <paramref name="body"/> of each point <see cref="Parse(ReadOnlySpan{byte}, Precision, long, PointBatch)"/>
    /// makes of it, in point order: for messages about points refused after the parse. Parses the body again.
    /// </summary>
    public int[] PointLineNumbers(ReadOnlySpan<byte> body, Precision precision)
    {
        var lines = new List<int>();
        var scratch = PointBatch.Rent();
        try
        {
            Parse(body, precision, 0, scratch, lines);
        }
        finally
        {
            PointBatch.Return(scratch);
        }
        return lines.ToArray();
    }

    [SkipLocalsInit]
    private ParseSummary Parse(ReadOnlySpan<byte> body, Precision precision, long nowNanoseconds, PointBatch batch, List<int>? pointLines)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long unit = precision.NanosecondsPerUnit();
        var context = new LineContext(unit, nowNanoseconds - nowNanoseconds % unit, Options.UnsignedAsInteger);

        Span<TagSpan> tags = stackalloc TagSpan[StackTagCapacity];
        TagSpan[]? rentedTags = null;
        List<LineError>? errors = null;
        int points = 0, badLines = 0, lineNumber = 1, pos = 0;
        // One vectorised pass over the whole body; only a body that fails it pays for a check per line. LF is
        // ASCII and never part of a multi-byte sequence, so a body is valid exactly when each of its lines is.
        bool checkEachLine = !Utf8.IsValid(body);
        try
        {
            while (pos < body.Length)
            {
                int end = FindLineEnd(body, pos, out bool mayHoldNewlines);
                var block = body.Slice(pos, end - pos);
                int blockLineNumber = lineNumber;
                lineNumber++;
                if (mayHoldNewlines) lineNumber += block.Count((byte)'\n');
                pos = end + 1;
                // A quote left open runs to the end of the body; like InfluxDB, drop a final LF it swallowed.
                if (mayHoldNewlines && !block.IsEmpty && block[^1] == (byte)'\n') block = block.Slice(0, block.Length - 1);

                int start = Syntax.SkipWhitespace(block, 0);
                if (start == block.Length || block[start] == (byte)'#') continue;
                var line = block.Slice(start);

                var fault = checkEachLine ? CheckUtf8(line) : Fault.None;
                if (fault.IsNone) fault = ParseLine(line, in context, tags, batch);
                if (fault.Kind == LineFault.NeedMoreTagSpace)
                {
                    // Each tag takes at least four bytes (",k=v"), which bounds how many one line can hold.
                    if (rentedTags is not null) ArrayPool<TagSpan>.Shared.Return(rentedTags);
                    rentedTags = ArrayPool<TagSpan>.Shared.Rent(line.Length / 4 + 1);
                    tags = rentedTags;
                    fault = ParseLine(line, in context, tags, batch);
                }

                if (fault.IsNone)
                {
                    points++;
                    pointLines?.Add(blockLineNumber);
                    continue;
                }
                badLines++;
                if ((errors?.Count ?? 0) < Options.MaxReportedErrors)
                    (errors ??= new List<LineError>()).Add(FaultMessages.ToLineError(blockLineNumber, line, fault, Options.MaxQuotedLineBytes));
            }
        }
        finally
        {
            if (rentedTags is not null) ArrayPool<TagSpan>.Shared.Return(rentedTags);
        }
        return new ParseSummary(points, badLines, errors is null ? Array.Empty<LineError>() : errors);
    }

    private const int StackTagCapacity = 64;

    /// <summary>
    /// The first invalid UTF-8 sequence of <paramref name="line"/>, if any. InfluxDB would store such bytes in a
    /// series key or string and then fail to open the shard holding them, so the whole line is refused.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Fault CheckUtf8(ReadOnlySpan<byte> line)
    {
        if (Utf8.IsValid(line)) return Fault.None;
        int i = 0;
        while (true)
        {
            var status = Rune.DecodeFromUtf8(line.Slice(i), out _, out int consumed);
            if (status != OperationStatus.Done) return new Fault(LineFault.InvalidUtf8, i, consumed);
            i += consumed;
        }
    }

    /// <summary>Per-request settings the line parser needs, computed once per body.</summary>
    private readonly record struct LineContext(long NanosPerUnit, long DefaultTimestamp, bool UnsignedAsInteger);

    /// <summary>
    /// Where the line starting at <paramref name="pos"/> ends (its LF, or the end of the body), splitting
    /// exactly as InfluxDB does: an LF inside a quoted field value does not end the line, and an LF right
    /// after a backslash is swallowed by it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindLineEnd(ReadOnlySpan<byte> body, int pos, out bool mayHoldNewlines)
    {
        mayHoldNewlines = false;
        var rest = body.Slice(pos);
        int i = rest.IndexOfAny(Syntax.LineStops);
        if (i < 0) return body.Length;
        if (rest[i] == (byte)'\n' && (i == 0 || rest[i - 1] != (byte)'\\')) return pos + i;
        mayHoldNewlines = true;
        return ScanLineEnd(body, pos);
    }

    /// <summary>
    /// The careful version of <see cref="FindLineEnd"/>, for lines with quotes or an escaped LF. It tracks
    /// quotes the way InfluxDB does: only after the first unescaped space, and only where a field value
    /// can start (more '=' than ',' seen so far), so that quotes in names and tag values are literal.
    /// </summary>
    private static int ScanLineEnd(ReadOnlySpan<byte> body, int i)
    {
        bool quoted = false, inFields = false;
        int equals = 0, commas = 0;
        while (i < body.Length)
        {
            byte c = body[i];
            if (c == (byte)'\\' && i + 2 < body.Length)
            {
                i += 2;
                continue;
            }
            if (c == (byte)' ') inFields = true;
            if (inFields)
            {
                if (!quoted && c == (byte)'=') { equals++; i++; continue; }
                if (!quoted && c == (byte)',') { commas++; i++; continue; }
                if (c == (byte)'"' && equals > commas) { quoted = !quoted; i++; continue; }
            }
            if (c == (byte)'\n' && !quoted) break;
            i++;
        }
        return i;
    }
}
