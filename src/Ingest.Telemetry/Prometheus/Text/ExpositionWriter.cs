using System.Buffers;
using System.Globalization;

namespace Ingest.Telemetry.Prometheus.Text;

/// <summary>
/// Appends pre-encoded tokens and numbers straight into the caller's <see cref="IBufferWriter{T}"/>;
/// numbers are formatted in place with TryFormat, so a scrape allocates no strings.
/// </summary>
internal readonly struct ExpositionWriter(IBufferWriter<byte> output)
{
    // Longest shortest-round-trip double ("-1.2345678901234567E-308") plus slack.
    private const int MaxNumberBytes = 32;

    public void Write(ReadOnlySpan<byte> bytes)
    {
        var span = output.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        output.Advance(bytes.Length);
    }

    public void Write(byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }

    public void WriteLong(long value)
    {
        var span = output.GetSpan(MaxNumberBytes);
        value.TryFormat(span, out int written, default, CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    /// <summary>
    /// Go's ParseFloat spellings: NaN, +Inf, -Inf; whole numbers below 2^63 as plain integers (the .NET
    /// shortest form would write 1E+15); everything else as the shortest round-trip form.
    /// </summary>
    public void WriteDouble(double value)
    {
        if (double.IsNaN(value)) { Write("NaN"u8); return; }
        if (double.IsPositiveInfinity(value)) { Write("+Inf"u8); return; }
        if (double.IsNegativeInfinity(value)) { Write("-Inf"u8); return; }
        if (Math.Abs(value) < 9.2e18 && value == Math.Floor(value))
        {
            WriteLong((long)value);
            return;
        }
        var span = output.GetSpan(MaxNumberBytes);
        value.TryFormat(span, out int written, "R", CultureInfo.InvariantCulture);
        output.Advance(written);
    }
}
