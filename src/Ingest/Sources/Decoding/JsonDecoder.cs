using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Ingest.LineProtocol;

namespace Ingest.Sources.Decoding;

/// <summary>
/// JSON payloads, per the source's <see cref="JsonMapping"/>: each item becomes one canonical line (measurement,
/// tags sorted with the source's extra tags merged in, fields, nanosecond time) written straight into the batch.
/// An item that cannot be decoded is counted and its partial line dropped; the other items are kept. Not
/// thread-safe: one decoder per source, used by its stream.
/// </summary>
public sealed class JsonDecoder : IPayloadDecoder
{
    private const long MinTime = long.MinValue + 2;
    private const long MaxTime = long.MaxValue - 1;
    private const int StackChars = 256;

    /// <summary>Bytes that make a text take the careful path (escaping, refusal); the rest are copied as they are.</summary>
    private static readonly SearchValues<byte> Specials = SearchValues.Create("\n\t\0 ,=\"\\#"u8);

    private readonly JsonMapping _mapping;
    private readonly bool _unsignedAsInteger;
    private readonly byte[]? _measurement;
    private readonly TagSlot[] _tags;
    private readonly FieldSlot[] _fields;
    private readonly DecodeScope _scope = new();

    /// <summary>A tag of the series key, in canonical order: from the mapping, the source's extra tags, or both.</summary>
    private sealed record TagSlot(string Name, byte[] Key, byte[] Prefix, JsonExpression? Value, byte[]? ExtraPair);

    private sealed record FieldSlot(string Name, byte[] Prefix, JsonExpression Value, FieldType? Type);

    internal JsonDecoder(JsonMapping mapping, ExtraTags tags, ParserOptions parserOptions)
    {
        _mapping = mapping;
        _unsignedAsInteger = parserOptions.UnsignedAsInteger;
        if (mapping.Measurement is { } m) _measurement = Escaped(w => LineProtocolWriter.WriteMeasurement(w, m));

        var slots = new Dictionary<string, TagSlot>(StringComparer.Ordinal);
        foreach (var (name, value) in mapping.Tags)
        {
            var key = Escaped(w => LineProtocolWriter.WriteTagKey(w, name));
            slots[Encoding.UTF8.GetString(key)] = new TagSlot(name, key, [(byte)',', .. key, (byte)'='], value, null);
        }
        foreach (var extra in tags.Tags)
        {
            var k = Encoding.UTF8.GetString(extra.Key);
            slots[k] = slots.TryGetValue(k, out var own)
                ? own with { ExtraPair = extra.Pair }
                : new TagSlot(k, extra.Key, [(byte)',', .. extra.Key, (byte)'='], null, extra.Pair);
        }
        _tags = slots.Values.OrderBy(s => s.Key, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToArray();
        _fields = mapping.Fields.Select(f => new FieldSlot(f.Name, [.. Escaped(w => LineProtocolWriter.WriteFieldKey(w, f.Name)), (byte)'='], f.Value, f.Type)).ToArray();
    }

    private static byte[] Escaped(Action<ArrayBufferWriter<byte>> write)
    {
        var w = new ArrayBufferWriter<byte>();
        write(w);
        return w.WrittenSpan.ToArray();
    }

    public DecodeResult Decode(in SourceMessage message, PointBatch batch)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message.Payload);
        }
        catch (JsonException e)
        {
            return new DecodeResult(0, 1, "malformed JSON: " + e.Message);
        }
        _scope.Begin(message.Subject);
        long arrival = message.ArrivalNanoseconds;
        int points = 0, errors = 0;
        string? firstError = null;
        try
        {
            var root = document.RootElement;
            JsonValue items;
            string? why = null;
            try
            {
                items = _mapping.Items is { } expression ? expression.Evaluate(root, _scope) : JsonValue.Of(root);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                items = default;
                why = e.Message;
            }
            if (items.Kind == JsonValueKind.Array)
            {
                int index = 0;
                foreach (var item in items.Element.EnumerateArray()) Item(item, index++);
            }
            else if (_mapping.Items is null || items.Kind == JsonValueKind.Object)
            {
                Item(items.Element, 0);
            }
            else
            {
                errors++;
                firstError = $"Items \"{_mapping.Items.Text}\": " + (why ?? (items.IsAbsent ? "found nothing" : $"{Show(items)} is not an array"));
            }
        }
        finally
        {
            _scope.End();
            document.Dispose();
        }
        return new DecodeResult(points, errors, firstError);

        void Item(JsonElement item, int index)
        {
            int start = batch.ByteLength;
            string? why;
            try
            {
                why = WriteItem(item, arrival, batch, start);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A JMESPath function given the wrong types, a name the writer refuses: the item is bad, not the source.
                why = e.Message;
            }
            if (why is null)
            {
                points++;
                return;
            }
            batch.Truncate(start);
            errors++;
            firstError ??= $"item {index}: {why}";
        }
    }

    /// <summary>Writes one item's line; the reason it cannot be decoded otherwise (the caller drops what was written).</summary>
    private string? WriteItem(JsonElement item, long arrival, PointBatch batch, int start)
    {
        long timestamp = arrival;
        if (_mapping.Time is { } time && ReadTime(time.Evaluate(item, _scope), out timestamp) is { } timeError)
            return $"time \"{time.Text}\": {timeError}";

        if (_measurement is not null)
        {
            LineProtocolWriter.WriteRaw(batch, _measurement);
        }
        else
        {
            var path = _mapping.MeasurementPath!;
            var value = path.Evaluate(item, _scope);
            if (value.IsAbsent) return $"measurement \"{path.Text}\": found nothing";
            if (WriteText(batch, value, TextKind.Measurement) is { } why) return $"measurement \"{path.Text}\": {why}";
        }

        foreach (var slot in _tags)
        {
            if (slot.Value is not null)
            {
                var value = slot.Value.Evaluate(item, _scope);
                if (!value.IsAbsent && !IsEmptyString(value))
                {
                    LineProtocolWriter.WriteRaw(batch, slot.Prefix);
                    if (WriteText(batch, value, TextKind.TagValue) is { } why) return $"tag \"{slot.Name}\": {why}";
                    continue;
                }
            }
            if (slot.ExtraPair is not null) LineProtocolWriter.WriteRaw(batch, slot.ExtraPair);
        }
        int seriesLength = batch.ByteLength - start;
        if (seriesLength > ExtraTags.MaxSeriesKeyLength) return $"series key longer than {ExtraTags.MaxSeriesKeyLength} bytes";

        int fieldsStart = seriesLength + start + 1;
        byte separator = (byte)' ';
        foreach (var field in _fields)
        {
            var value = field.Value.Evaluate(item, _scope);
            if (value.IsAbsent) continue;
            LineProtocolWriter.WriteByte(batch, separator);
            separator = (byte)',';
            LineProtocolWriter.WriteRaw(batch, field.Prefix);
            if (WriteField(batch, value, field.Type) is { } why) return $"field \"{field.Name}\": {why}";
        }
        if (separator == (byte)' ')
            return "no field value (Fields: " + string.Join(", ", _fields.Select(f => $"{f.Name} = {f.Value.Text}")) + ")";
        int fieldsLength = batch.ByteLength - fieldsStart;

        LineProtocolWriter.WriteByte(batch, (byte)' ');
        LineProtocolWriter.WriteTimestamp(batch, timestamp);
        LineProtocolWriter.WriteByte(batch, (byte)'\n');
        int lineLength = batch.ByteLength - start;
        ulong hash = SeriesKeyHash.Compute(batch.Data.Slice(start, seriesLength));
        batch.AddPoint(new PointRef(start, lineLength, seriesLength, fieldsLength, timestamp, hash));
        return null;
    }

    private enum TextKind { Measurement, TagValue, StringValue }

    private static bool IsEmptyString(in JsonValue value) =>
        value.Kind == JsonValueKind.String && (value.Text is { } t ? t.Length == 0 : JsonMarshal.GetRawUtf8Value(value.Element).Length <= 2);

    /// <summary>
    /// The value's text as UTF-8 (<paramref name="utf8"/>) or, for a JSON string with escapes or the subject, as a
    /// string; false for an object or array.
    /// </summary>
    private static bool TryText(JsonValue value, out ReadOnlySpan<byte> utf8, out string? text)
    {
        utf8 = default;
        text = value.Text;
        if (text is not null) return true;
        switch (value.Kind)
        {
            case JsonValueKind.String:
                var raw = JsonMarshal.GetRawUtf8Value(value.Element);
                if (raw.Length >= 2 && raw[0] == (byte)'"') raw = raw[1..^1];
                if (raw.IndexOf((byte)'\\') >= 0) text = value.Element.GetString();
                else utf8 = raw;
                return true;
            case JsonValueKind.Number:
                utf8 = JsonMarshal.GetRawUtf8Value(value.Element);
                return true;
            case JsonValueKind.True:
                utf8 = "true"u8;
                return true;
            case JsonValueKind.False:
                utf8 = "false"u8;
                return true;
            default:
                return false;
        }
    }

    /// <summary>Writes the value as a measurement, tag value or string field value, escaped as the project's writer escapes.</summary>
    private static string? WriteText(PointBatch batch, in JsonValue value, TextKind kind)
    {
        string? text;
        ReadOnlySpan<byte> utf8;
        try
        {
            if (!TryText(value, out utf8, out text)) return $"{Show(value)} is not a {(kind == TextKind.StringValue ? "field" : kind == TextKind.TagValue ? "tag" : "measurement")} value";
        }
        catch (InvalidOperationException)
        {
            return "a string that is not valid Unicode";
        }
        if (text is not null) return WriteChars(batch, text, kind);
        // Plain ASCII-safe text: what the writer would produce is the text itself.
        if (!utf8.IsEmpty && utf8.IndexOfAny(Specials) < 0 && Utf8.IsValid(utf8))
        {
            bool quoted = kind == TextKind.StringValue;
            if (quoted) LineProtocolWriter.WriteByte(batch, (byte)'"');
            LineProtocolWriter.WriteRaw(batch, utf8);
            if (quoted) LineProtocolWriter.WriteByte(batch, (byte)'"');
            return null;
        }
        char[]? rented = null;
        Span<char> chars = utf8.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(utf8.Length));
        try
        {
            if (Utf8.ToUtf16(utf8, chars, out _, out int written, replaceInvalidSequences: false) != OperationStatus.Done)
                return "a string that is not valid UTF-8";
            return WriteChars(batch, chars[..written], kind);
        }
        finally
        {
            if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        }
    }

    private static string? WriteChars(PointBatch batch, ReadOnlySpan<char> text, TextKind kind)
    {
        try
        {
            switch (kind)
            {
                case TextKind.Measurement: LineProtocolWriter.WriteMeasurement(batch, text); break;
                case TextKind.TagValue: LineProtocolWriter.WriteTagValue(batch, text); break;
                default: LineProtocolWriter.WriteStringValue(batch, text); break;
            }
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    private string? WriteField(PointBatch batch, in JsonValue value, FieldType? type)
    {
        if (value.Kind is JsonValueKind.Object or JsonValueKind.Array) return $"{Show(value)} is not a field value";
        var target = type ?? value.Kind switch
        {
            JsonValueKind.Number => FieldType.Float,
            JsonValueKind.True or JsonValueKind.False => FieldType.Boolean,
            _ => FieldType.String,
        };
        if (target == FieldType.String)
        {
            if (value.Kind == JsonValueKind.String || value.Text is not null) return WriteText(batch, value, TextKind.StringValue);
            // A number or boolean as text: its JSON text between quotes.
            TryText(value, out var literal, out _);
            LineProtocolWriter.WriteByte(batch, (byte)'"');
            LineProtocolWriter.WriteRaw(batch, literal);
            LineProtocolWriter.WriteByte(batch, (byte)'"');
            return null;
        }
        if (target == FieldType.Boolean)
        {
            bool? b = value.Kind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.String => ParseBoolean(value),
                _ => null,
            };
            if (b is null) return $"{Show(value)} is not a boolean";
            LineProtocolWriter.WriteBoolean(batch, b.Value);
            return null;
        }
        if (value.Kind is not (JsonValueKind.Number or JsonValueKind.String)) return $"{Show(value)} is not a number";
        string? text;
        ReadOnlySpan<byte> utf8;
        try
        {
            TryText(value, out utf8, out text);
        }
        catch (InvalidOperationException)
        {
            return "a string that is not valid Unicode";
        }
        switch (target)
        {
            case FieldType.Integer:
                if (!TryInteger(utf8, text, out long l)) return $"{Show(value)} is not an integer";
                LineProtocolWriter.WriteInteger(batch, l);
                return null;
            case FieldType.Unsigned:
                if (!TryUnsigned(utf8, text, out ulong u)) return $"{Show(value)} is not an unsigned integer";
                if (!_unsignedAsInteger)
                {
                    LineProtocolWriter.WriteUnsigned(batch, u);
                    return null;
                }
                // The sink is InfluxDB 1.x, which has no unsigned type: written as an integer, as the parser does.
                if (u > long.MaxValue) return $"{Show(value)} is above the largest integer InfluxDB 1.x stores";
                LineProtocolWriter.WriteInteger(batch, (long)u);
                return null;
            default:
                if (!TryFloat(utf8, text, out double d)) return $"{Show(value)} is not a number";
                LineProtocolWriter.WriteFloat(batch, d);
                return null;
        }
    }

    private static bool? ParseBoolean(in JsonValue value)
    {
        TryText(value, out var utf8, out var text);
        if (text is not null) return bool.TryParse(text, out var b) ? b : null;
        if (Ascii.EqualsIgnoreCase(utf8, "true"u8)) return true;
        if (Ascii.EqualsIgnoreCase(utf8, "false"u8)) return false;
        return null;
    }

    private static bool TryFloat(ReadOnlySpan<byte> utf8, string? text, out double value) =>
        (text is not null
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
            : double.TryParse(utf8, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        && double.IsFinite(value);

    private static bool TryInteger(ReadOnlySpan<byte> utf8, string? text, out long value)
    {
        if (text is not null ? long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)
                             : long.TryParse(utf8, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)) return true;
        // 21.0 or 2.1e1 is a whole number written as a float; 21.5 is not an integer.
        if (!TryFloat(utf8, text, out double d) || d != Math.Floor(d) || d < -9.2e18 || d > 9.2e18) return false;
        value = (long)d;
        return true;
    }

    private static bool TryUnsigned(ReadOnlySpan<byte> utf8, string? text, out ulong value)
    {
        if (text is not null ? ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value)
                             : ulong.TryParse(utf8, NumberStyles.None, CultureInfo.InvariantCulture, out value)) return true;
        if (!TryFloat(utf8, text, out double d) || d != Math.Floor(d) || d < 0 || d > 1.8e19) return false;
        value = (ulong)d;
        return true;
    }

    /// <summary>The item's time in unix nanoseconds, per <see cref="JsonMapping.TimeFormat"/>; the reason otherwise.</summary>
    private string? ReadTime(in JsonValue value, out long nanoseconds)
    {
        nanoseconds = 0;
        if (value.IsAbsent) return "found nothing";
        if (value.Kind is not (JsonValueKind.Number or JsonValueKind.String)) return $"{Show(value)} is not a time";
        string? text;
        scoped ReadOnlySpan<byte> utf8;
        try
        {
            TryText(value, out utf8, out text);
        }
        catch (InvalidOperationException)
        {
            return "a string that is not valid Unicode";
        }
        Span<byte> buffer = stackalloc byte[64];
        if (text is not null)
        {
            if (text.Length > 40) return $"{Show(value)} is not a time";
            utf8 = buffer[..Encoding.UTF8.GetBytes(text, buffer)];
        }
        if (_mapping.TimeFormat == JsonTimeFormat.Rfc3339)
            return TryRfc3339(utf8, out nanoseconds) ? null : $"{Show(value)} is not an RFC 3339 time (such as 2024-05-01T12:00:00Z)";
        long unit = _mapping.TimeFormat switch
        {
            JsonTimeFormat.UnixSeconds => 1_000_000_000,
            JsonTimeFormat.UnixMilliseconds => 1_000_000,
            JsonTimeFormat.UnixMicroseconds => 1_000,
            _ => 1,
        };
        if (long.TryParse(utf8, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long whole))
        {
            if (whole > MaxTime / unit || whole < MinTime / unit) return $"{Show(value)} is out of InfluxDB's time range";
            nanoseconds = whole * unit;
            return null;
        }
        // A fraction (1700000000.25 seconds): exact in decimal, truncated to the nanosecond.
        if (!decimal.TryParse(utf8, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal fractional))
            return $"{Show(value)} is not a number";
        try
        {
            var ns = decimal.Truncate(fractional * unit);
            if (ns > MaxTime || ns < MinTime) return $"{Show(value)} is out of InfluxDB's time range";
            nanoseconds = (long)ns;
            return null;
        }
        catch (OverflowException)
        {
            return $"{Show(value)} is out of InfluxDB's time range";
        }
    }

    /// <summary>
    /// <c>YYYY-MM-DDTHH:MM:SS[.fraction]Z</c> or with a <c>±HH:MM</c> offset; up to nine fraction digits (the
    /// nanoseconds .NET's parser would cut to a tenth of a microsecond); 't', 'z' and a space for 'T' accepted.
    /// </summary>
    internal static bool TryRfc3339(ReadOnlySpan<byte> s, out long nanoseconds)
    {
        nanoseconds = 0;
        if (s.Length < 20) return false;
        if (!Digits(s, 0, 4, out int year) || s[4] != '-' || !Digits(s, 5, 2, out int month) || s[7] != '-' || !Digits(s, 8, 2, out int day)
            || s[10] is not ((byte)'T' or (byte)'t' or (byte)' ')
            || !Digits(s, 11, 2, out int hour) || s[13] != ':' || !Digits(s, 14, 2, out int minute) || s[16] != ':' || !Digits(s, 17, 2, out int second))
            return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        int i = 19;
        long fraction = 0;
        if (s[i] == '.')
        {
            int digits = 0;
            i++;
            while (i < s.Length && s[i] is >= (byte)'0' and <= (byte)'9')
            {
                if (digits == 9) return false;
                fraction = fraction * 10 + (s[i] - '0');
                digits++;
                i++;
            }
            if (digits == 0) return false;
            for (; digits < 9; digits++) fraction *= 10;
        }
        if (i >= s.Length) return false;
        long offsetSeconds = 0;
        if (s[i] is (byte)'Z' or (byte)'z')
        {
            i++;
        }
        else if (s[i] is (byte)'+' or (byte)'-')
        {
            if (s.Length - i != 6 || !Digits(s, i + 1, 2, out int oh) || s[i + 3] != ':' || !Digits(s, i + 4, 2, out int om) || oh > 23 || om > 59) return false;
            offsetSeconds = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
            i += 6;
        }
        else
        {
            return false;
        }
        if (i != s.Length) return false;
        var seconds = (long)(new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc) - DateTime.UnixEpoch).TotalSeconds - offsetSeconds;
        // InfluxDB's range is about 1677-09-21 to 2262-04-11.
        if (seconds > MaxTime / 1_000_000_000 - 1 || seconds < MinTime / 1_000_000_000 + 1) return false;
        nanoseconds = seconds * 1_000_000_000 + fraction;
        return true;
    }

    private static bool Digits(ReadOnlySpan<byte> s, int start, int count, out int value)
    {
        value = 0;
        for (int i = start; i < start + count; i++)
        {
            if (s[i] is < (byte)'0' or > (byte)'9') return false;
            value = value * 10 + (s[i] - '0');
        }
        return true;
    }

    /// <summary>The value as an error message quotes it: its JSON text, cut short.</summary>
    private static string Show(in JsonValue value)
    {
        if (value.Text is { } subject) return JsonSerializer.Serialize(subject);
        if (value.Kind == JsonValueKind.Undefined) return "nothing";
        var raw = JsonMarshal.GetRawUtf8Value(value.Element);
        const int max = 60;
        return raw.Length <= max ? Encoding.UTF8.GetString(raw) : Encoding.UTF8.GetString(raw[..max]) + "…";
    }
}
