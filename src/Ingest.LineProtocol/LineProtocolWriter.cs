using System.Buffers;
using System.Globalization;
using System.Text;

namespace Ingest.LineProtocol;

/// <summary>
/// Writes line protocol into an <see cref="IBufferWriter{T}"/> (a <see cref="PointBatch"/>, a pipe, ...):
/// escaped names and values, typed field values, whole points. Nothing is allocated: text is encoded straight
/// into the writer's span and numbers are formatted with TryFormat.
/// </summary>
/// <remarks>
/// Some names cannot be expressed in line protocol at all, because InfluxDB's parser would read them
/// differently: empty names, names with a line feed, names ending in a backslash (it would escape the
/// separator that follows), a measurement starting with '#', a tab or NUL, and a field key starting with a
/// tab or NUL or with a backslash right before ',', '=' or ' '. Those throw <see cref="ArgumentException"/>
/// rather than produce a line that means something else. One quirk is left to the caller: a literal
/// backslash right before a space in the measurement or a tag (written <c>\\ </c>, valid for InfluxDB) makes
/// InfluxDB's line splitter think the field set has begun, so a later string value holding a line feed may
/// then be split wrongly.
/// </remarks>
public static partial class LineProtocolWriter
{
    public static void WriteMeasurement(IBufferWriter<byte> writer, ReadOnlySpan<char> name)
    {
        if (name.IsEmpty) ThrowHelper.ThrowNotRepresentable("measurement", "it is empty");
        if (name[0] is '#' or '\t' or '\0')
            ThrowHelper.ThrowNotRepresentable("measurement", "it starts with '#', a tab or NUL");
        WriteEscaped(writer, name, ElementKind.Measurement, "measurement");
    }

    public static void WriteTagKey(IBufferWriter<byte> writer, ReadOnlySpan<char> key)
    {
        if (key.IsEmpty) ThrowHelper.ThrowNotRepresentable("tag key", "it is empty");
        WriteEscaped(writer, key, ElementKind.Tag, "tag key");
    }

    public static void WriteTagValue(IBufferWriter<byte> writer, ReadOnlySpan<char> value)
    {
        if (value.IsEmpty) ThrowHelper.ThrowNotRepresentable("tag value", "it is empty");
        WriteEscaped(writer, value, ElementKind.Tag, "tag value");
    }

    public static void WriteFieldKey(IBufferWriter<byte> writer, ReadOnlySpan<char> key)
    {
        if (key.IsEmpty) ThrowHelper.ThrowNotRepresentable("field key", "it is empty");
        // InfluxDB skips tabs and NULs before the field set, so they cannot start its first key.
        if (key[0] is '\t' or '\0') ThrowHelper.ThrowNotRepresentable("field key", "it starts with a tab or NUL");
        WriteEscaped(writer, key, ElementKind.FieldKey, "field key");
    }

    /// <summary>A string field value with its quotes; every '"' and '\' is escaped.</summary>
    public static void WriteStringValue(IBufferWriter<byte> writer, ReadOnlySpan<char> value)
    {
        WriteByte(writer, (byte)'"');
        WriteEscaped(writer, value, ElementKind.StringValue, "string value");
        WriteByte(writer, (byte)'"');
    }

    private enum ElementKind : byte { Measurement, Tag, FieldKey, StringValue }

    private static bool NeedsEscape(char c, char previous, ElementKind kind) => kind switch
    {
        // '=' and '"' are literal in a measurement, but InfluxDB unescapes "\=" and "\"" there, so a literal
        // backslash before them must be followed by an escape to survive.
        ElementKind.Measurement => c is ',' or ' ' || (c is '=' or '"' && previous == '\\'),
        ElementKind.Tag or ElementKind.FieldKey => c is ',' or ' ' or '=',
        _ => c is '"' or '\\',
    };

    private static void WriteEscaped(IBufferWriter<byte> writer, ReadOnlySpan<char> text, ElementKind kind, string element)
    {
        int escapes = 0;
        char previous = '\0';
        foreach (char c in text)
        {
            if (NeedsEscape(c, previous, kind))
            {
                escapes++;
                if (kind == ElementKind.FieldKey && previous == '\\')
                    ThrowHelper.ThrowNotRepresentable(element, "a backslash precedes ',', '=' or ' '");
            }
            if (c == '\n' && kind != ElementKind.StringValue)
                ThrowHelper.ThrowNotRepresentable(element, "it contains a line feed");
            previous = c;
        }
        if (previous == '\\' && kind != ElementKind.StringValue)
            ThrowHelper.ThrowNotRepresentable(element, "it ends with a backslash");

        int length = Encoding.UTF8.GetByteCount(text) + escapes;
        var span = writer.GetSpan(length);
        if (escapes == 0)
        {
            Encoding.UTF8.GetBytes(text, span);
            writer.Advance(length);
            return;
        }

        int n = 0, runStart = 0;
        previous = '\0';
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (NeedsEscape(c, previous, kind))
            {
                n += Encoding.UTF8.GetBytes(text.Slice(runStart, i - runStart), span.Slice(n));
                span[n++] = (byte)'\\';
                span[n++] = (byte)c;
                runStart = i + 1;
            }
            previous = c;
        }
        n += Encoding.UTF8.GetBytes(text.Slice(runStart), span.Slice(n));
        writer.Advance(n);
    }

    public static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    /// <summary>Writes bytes verbatim (pre-encoded tokens, already-escaped names).</summary>
    public static void WriteRaw(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
    }
}
