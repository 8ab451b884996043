using System.Buffers;
using System.Text;

namespace Ingest.LineProtocol;

/// <summary>Which backslash sequences an element unescapes (InfluxDB's rules differ per element).</summary>
public enum EscapeKind : byte
{
    /// <summary><c>\,</c> <c>\ </c> <c>\=</c> <c>\"</c>, as InfluxDB's measurement name.</summary>
    Measurement,

    /// <summary><c>\,</c> <c>\ </c> <c>\=</c>: tag keys, tag values and field keys.</summary>
    Key,

    /// <summary><c>\"</c> and <c>\\</c> inside a string field value; any other <c>\x</c> stays as two characters.</summary>
    StringValue,
}

/// <summary>Unescaping of line-protocol elements into text.</summary>
public static class Escaping
{
    /// <summary>
    /// Length of the (escaped) measurement at the start of a series key: up to the first comma not preceded by a
    /// backslash, as InfluxDB splits a series key (and as the parser writes the canonical one).
    /// </summary>
    public static int MeasurementLength(ReadOnlySpan<byte> seriesKey)
    {
        int from = 1;
        while (from < seriesKey.Length)
        {
            int j = seriesKey.Slice(from).IndexOf((byte)',');
            if (j < 0) return seriesKey.Length;
            j += from;
            if (seriesKey[j - 1] != (byte)'\\') return j;
            from = j + 1;
        }
        return seriesKey.Length;
    }

    /// <summary>Unescapes <paramref name="escaped"/> (UTF-8 as on the wire) into a string.</summary>
    public static string Unescape(ReadOnlySpan<byte> escaped, EscapeKind kind)
    {
        if (escaped.IndexOf((byte)'\\') < 0) return Encoding.UTF8.GetString(escaped);
        byte[]? rented = null;
        Span<byte> buffer = escaped.Length <= 512 ? stackalloc byte[escaped.Length] : (rented = ArrayPool<byte>.Shared.Rent(escaped.Length));
        int n = Unescape(escaped, kind, buffer);
        string text = Encoding.UTF8.GetString(buffer.Slice(0, n));
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        return text;
    }

    /// <summary>Unescapes into <paramref name="destination"/> (at least as long as the input); returns the length.</summary>
    public static int Unescape(ReadOnlySpan<byte> escaped, EscapeKind kind, Span<byte> destination)
    {
        int n = 0;
        for (int i = 0; i < escaped.Length; i++)
        {
            byte b = escaped[i];
            if (b == (byte)'\\' && i + 1 < escaped.Length && IsEscapable(escaped[i + 1], kind))
            {
                b = escaped[++i];
            }
            destination[n++] = b;
        }
        return n;
    }

    private static bool IsEscapable(byte b, EscapeKind kind) => kind switch
    {
        EscapeKind.Measurement => b is (byte)',' or (byte)' ' or (byte)'=' or (byte)'"',
        EscapeKind.Key => b is (byte)',' or (byte)' ' or (byte)'=',
        _ => b is (byte)'"' or (byte)'\\',
    };
}
