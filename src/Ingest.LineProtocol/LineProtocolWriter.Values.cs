using System.Buffers;
using System.Globalization;

namespace Ingest.LineProtocol;

public static partial class LineProtocolWriter
{
    /// <summary>The shortest text that parses back to the same double (no suffix: floats are the default type).</summary>
    public static void WriteFloat(IBufferWriter<byte> writer, double value)
    {
        if (!double.IsFinite(value)) ThrowHelper.ThrowNonFiniteFloat(value);
        var span = writer.GetSpan(32);
        value.TryFormat(span, out int written, "R", CultureInfo.InvariantCulture);
        writer.Advance(written);
    }

    public static void WriteInteger(IBufferWriter<byte> writer, long value)
    {
        var span = writer.GetSpan(21);
        value.TryFormat(span, out int written, default, CultureInfo.InvariantCulture);
        span[written++] = (byte)'i';
        writer.Advance(written);
    }

    public static void WriteUnsigned(IBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(21);
        value.TryFormat(span, out int written, default, CultureInfo.InvariantCulture);
        span[written++] = (byte)'u';
        writer.Advance(written);
    }

    public static void WriteBoolean(IBufferWriter<byte> writer, bool value) => WriteRaw(writer, value ? "true"u8 : "false"u8);

    /// <summary>A timestamp in whatever unit the receiver expects (the number only).</summary>
    public static void WriteTimestamp(IBufferWriter<byte> writer, long timestamp)
    {
        var span = writer.GetSpan(20);
        timestamp.TryFormat(span, out int written, default, CultureInfo.InvariantCulture);
        writer.Advance(written);
    }

    public static void WriteFieldValue(IBufferWriter<byte> writer, in FieldValue value)
    {
        switch (value.Type)
        {
            case FieldType.Float: WriteFloat(writer, value.Float); break;
            case FieldType.Integer: WriteInteger(writer, value.Integer); break;
            case FieldType.Unsigned: WriteUnsigned(writer, value.Unsigned); break;
            case FieldType.Boolean: WriteBoolean(writer, value.Boolean); break;
            default: WriteStringValue(writer, value.String ?? ""); break;
        }
    }

    /// <summary>
    /// A whole line: measurement, tags in the given order, fields, the timestamp (nanoseconds unless the
    /// receiver is told otherwise) and LF.
    /// </summary>
    public static void WritePoint(IBufferWriter<byte> writer, DecodedPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Fields.Count == 0) ThrowHelper.ThrowNotRepresentable("point", "it has no fields");
        WriteMeasurement(writer, point.Measurement);
        // Indexed loops: foreach over IReadOnlyList would box an enumerator per point.
        var tags = point.Tags;
        for (int i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            WriteByte(writer, (byte)',');
            WriteTagKey(writer, tag.Key);
            WriteByte(writer, (byte)'=');
            WriteTagValue(writer, tag.Value);
        }
        byte separator = (byte)' ';
        var fields = point.Fields;
        for (int i = 0; i < fields.Count; i++)
        {
            var field = fields[i];
            WriteByte(writer, separator);
            separator = (byte)',';
            WriteFieldKey(writer, field.Key);
            WriteByte(writer, (byte)'=');
            WriteFieldValue(writer, field.Value);
        }
        WriteByte(writer, (byte)' ');
        WriteTimestamp(writer, point.Timestamp);
        WriteByte(writer, (byte)'\n');
    }
}
