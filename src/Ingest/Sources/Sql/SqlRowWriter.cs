using System.Buffers;
using System.Data.Common;
using System.Globalization;
using Ingest.LineProtocol;

namespace Ingest.Sources.Sql;

/// <summary>
/// Turns the rows of one poll into one line-protocol payload, a line per row. Made per poll from the result's
/// columns (<see cref="Resolve"/>). A row that cannot become a point (no field left after its NULLs, no
/// measurement, no time, a name line protocol cannot carry) is written as a line the decoder refuses, naming
/// the row and why, so that it is counted in <c>ingest_source_decode_errors_total</c> and logged with the others.
/// </summary>
internal sealed class SqlRowWriter
{
    private readonly SqlSettings _settings;
    private readonly int _measurement;
    private readonly Column[] _tags;
    private readonly Column[] _fields;
    private readonly int _time;
    private readonly ArrayBufferWriter<byte> _row = new(256);
    private int _rows;

    private SqlRowWriter(SqlSettings settings, int measurement, Column[] tags, Column[] fields, int time)
    {
        _settings = settings;
        _measurement = measurement;
        _tags = tags;
        _fields = fields;
        _time = time;
    }

    /// <summary>The newest row time written so far (unix ns), or null when the rows carry no time of their own.</summary>
    public long? NewestTime { get; private set; }

    /// <summary>A column of the result, with what its declared type says a number in it is.</summary>
    private readonly record struct Column(int Ordinal, string Name, NumberKind Kind);

    private enum NumberKind { AsStored, Integer, Float, Boolean }

    /// <summary>Maps the configured columns onto <paramref name="reader"/>'s; a column the result lacks throws <see cref="SqlMappingException"/>.</summary>
    public static SqlRowWriter Resolve(DbDataReader reader, SqlSettings settings, string sourceKey)
    {
        var names = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
        int Find(string column, string key)
        {
            var i = Array.FindIndex(names, n => n == column);
            if (i < 0) i = Array.FindIndex(names, n => string.Equals(n, column, StringComparison.OrdinalIgnoreCase));
            if (i < 0)
                throw new SqlMappingException($"column '{column}' ({sourceKey}:{key}) is not in the query's result, which has: {string.Join(", ", names)}");
            return i;
        }
        Column Describe(int i) => new(i, names[i], KindOf(reader.GetDataTypeName(i)));

        var measurement = settings.MeasurementColumn is { } mc ? Find(mc, "MeasurementColumn") : -1;
        var time = settings.TimeColumn is { } tc ? Find(tc, "TimeColumn") : -1;
        var tags = settings.TagColumns.Select((t, i) => Describe(Find(t, $"TagColumns:{i}"))).ToArray();
        Column[] fields;
        if (settings.FieldColumns is { } configured)
        {
            fields = configured.Select((f, i) => Describe(Find(f, $"FieldColumns:{i}"))).ToArray();
        }
        else
        {
            var taken = new HashSet<int>(tags.Select(t => t.Ordinal)) { measurement, time };
            fields = Enumerable.Range(0, names.Length).Where(i => !taken.Contains(i)).Select(Describe).ToArray();
        }
        return new SqlRowWriter(settings, measurement, tags, fields, time);
    }

    /// <summary>
    /// SQLite stores a value by what it is, not by its column's type: 3.0 in a DECIMAL column comes back as the
    /// integer 3, a BOOLEAN as 0 or 1. The declared type keeps a field's type the same from row to row, as
    /// InfluxDB requires. (PostgreSQL values already come typed; the names agree with them.)
    /// </summary>
    private static NumberKind KindOf(string? declared)
    {
        if (string.IsNullOrEmpty(declared)) return NumberKind.AsStored;
        var t = declared.ToUpperInvariant();
        if (t.Contains("BOOL")) return NumberKind.Boolean;
        if (t.Contains("INT") && !t.Contains("INTERVAL") && !t.Contains("POINT")) return NumberKind.Integer;
        if (t.Contains("REAL") || t.Contains("FLOA") || t.Contains("DOUB") || t.Contains("NUMERIC") || t.Contains("DEC")) return NumberKind.Float;
        return NumberKind.AsStored;
    }

    /// <summary>Appends the current row of <paramref name="reader"/> to <paramref name="payload"/>; false when it was a bad row.</summary>
    public bool Write(DbDataReader reader, long pollNanoseconds, IBufferWriter<byte> payload)
    {
        _rows++;
        _row.ResetWrittenCount();
        string? problem;
        try
        {
            problem = WriteRow(reader, pollNanoseconds);
        }
        catch (ArgumentException e)
        {
            // LineProtocolWriter refuses a name or value line protocol cannot express.
            problem = e.Message;
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException)
        {
            problem = "a value could not be read: " + e.Message;
        }
        if (problem is null)
        {
            LineProtocolWriter.WriteRaw(payload, _row.WrittenSpan);
            return true;
        }
        // "sql row 3 skipped: …" unescaped: its field set "row" has no '=', so the decoder refuses it whatever follows,
        // counts it, and its log sample reads plainly. Nothing in it may end the line early or open a quote.
        var reason = $"sql row {_rows} skipped: {problem}".Replace('\n', ' ').Replace('\r', ' ').Replace('"', '\'').Replace('\\', '/');
        var bytes = payload.GetSpan(System.Text.Encoding.UTF8.GetByteCount(reason) + 1);
        int n = System.Text.Encoding.UTF8.GetBytes(reason, bytes);
        bytes[n] = (byte)'\n';
        payload.Advance(n + 1);
        return false;
    }

    private string? WriteRow(DbDataReader reader, long pollNanoseconds)
    {
        long timestamp = pollNanoseconds;
        if (_time >= 0)
        {
            if (reader.IsDBNull(_time)) return $"its time ({_settings.TimeColumn}) is NULL";
            if (!TryTime(reader.GetValue(_time), _settings.TimeFormat, out timestamp, out var why)) return $"its time ({_settings.TimeColumn}) {why}";
        }

        if (_measurement >= 0)
        {
            var name = reader.IsDBNull(_measurement) ? null : Text(reader.GetValue(_measurement));
            if (string.IsNullOrEmpty(name)) return $"its measurement ({_settings.MeasurementColumn}) is NULL or empty";
            LineProtocolWriter.WriteMeasurement(_row, name);
        }
        else
        {
            LineProtocolWriter.WriteMeasurement(_row, _settings.Measurement);
        }

        foreach (var tag in _tags)
        {
            if (reader.IsDBNull(tag.Ordinal)) continue;
            var value = Text(reader.GetValue(tag.Ordinal));
            // InfluxDB has no empty tag value: an empty one is the same as none.
            if (string.IsNullOrEmpty(value)) continue;
            LineProtocolWriter.WriteByte(_row, (byte)',');
            LineProtocolWriter.WriteTagKey(_row, tag.Name);
            LineProtocolWriter.WriteByte(_row, (byte)'=');
            LineProtocolWriter.WriteTagValue(_row, value);
        }

        byte separator = (byte)' ';
        foreach (var field in _fields)
        {
            if (reader.IsDBNull(field.Ordinal)) continue;
            var value = reader.GetValue(field.Ordinal);
            if (!IsStorable(value, field.Kind)) continue;
            LineProtocolWriter.WriteByte(_row, separator);
            separator = (byte)',';
            LineProtocolWriter.WriteFieldKey(_row, field.Name);
            LineProtocolWriter.WriteByte(_row, (byte)'=');
            WriteValue(value, field.Kind);
        }
        if (separator == (byte)' ') return "it has no field (every field column is NULL)";

        LineProtocolWriter.WriteByte(_row, (byte)' ');
        LineProtocolWriter.WriteTimestamp(_row, timestamp);
        LineProtocolWriter.WriteByte(_row, (byte)'\n');
        if (_time >= 0 && (NewestTime is null || timestamp > NewestTime)) NewestTime = timestamp;
        return null;
    }

    /// <summary>False for what InfluxDB cannot store (NaN, infinities) or a field cannot hold (binary), left out like a NULL.</summary>
    private static bool IsStorable(object value, NumberKind kind) => value switch
    {
        byte[] => false,
        double d => double.IsFinite(d),
        float f => float.IsFinite(f),
        _ => true,
    };

    private void WriteValue(object value, NumberKind kind)
    {
        switch (value)
        {
            case bool b:
                LineProtocolWriter.WriteBoolean(_row, b);
                break;
            case sbyte or byte or short or ushort or int or uint or long:
            {
                var n = Convert.ToInt64(value, CultureInfo.InvariantCulture);
                if (kind == NumberKind.Boolean) LineProtocolWriter.WriteBoolean(_row, n != 0);
                else if (kind == NumberKind.Float) LineProtocolWriter.WriteFloat(_row, n);
                else LineProtocolWriter.WriteInteger(_row, n);
                break;
            }
            case ulong u:
                if (u <= long.MaxValue && kind is NumberKind.Integer or NumberKind.AsStored) LineProtocolWriter.WriteInteger(_row, (long)u);
                else LineProtocolWriter.WriteFloat(_row, u);
                break;
            case float or double or decimal:
                LineProtocolWriter.WriteFloat(_row, Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            default:
                LineProtocolWriter.WriteStringValue(_row, Text(value));
                break;
        }
    }

    /// <summary>A value as text: for a tag, a measurement, or a string field that is not a string in the database.</summary>
    private static string Text(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        DateTime d => (d.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(d, DateTimeKind.Utc) : d.ToUniversalTime()).ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset o => o.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A row's time as unix nanoseconds.</summary>
    internal static bool TryTime(object value, SqlTimeFormat format, out long nanoseconds, out string why)
    {
        nanoseconds = 0;
        why = "";
        if (format == SqlTimeFormat.DateTime)
        {
            DateTimeOffset at;
            switch (value)
            {
                case DateTime d:
                    // A timestamp without time zone is read as UTC, as InfluxDB stores every time.
                    at = d.Kind == DateTimeKind.Local ? new DateTimeOffset(d) : new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc));
                    break;
                case DateTimeOffset o:
                    at = o;
                    break;
                case DateOnly day:
                    at = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
                    break;
                case string s when DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed):
                    at = parsed;
                    break;
                default:
                    why = $"'{Text(value)}' is not a date and time (TimeFormat datetime; give TimeFormat s, ms, us or ns for unix times)";
                    return false;
            }
            nanoseconds = (at.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
            return true;
        }

        long unit = format switch
        {
            SqlTimeFormat.UnixSeconds => 1_000_000_000,
            SqlTimeFormat.UnixMilliseconds => 1_000_000,
            SqlTimeFormat.UnixMicroseconds => 1_000,
            _ => 1,
        };
        try
        {
            switch (value)
            {
                case float or double or decimal:
                    var d = Convert.ToDecimal(value, CultureInfo.InvariantCulture) * unit;
                    nanoseconds = decimal.ToInt64(decimal.Truncate(d));
                    return true;
                case string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n):
                    nanoseconds = checked(n * unit);
                    return true;
                case IConvertible when value is not string and not DateTime and not bool:
                    nanoseconds = checked(Convert.ToInt64(value, CultureInfo.InvariantCulture) * unit);
                    return true;
            }
        }
        catch (Exception e) when (e is OverflowException or InvalidCastException)
        {
            why = $"'{Text(value)}' is out of range";
            return false;
        }
        why = $"'{Text(value)}' is not a unix time";
        return false;
    }
}

/// <summary>The query's result does not have the columns the source maps.</summary>
internal sealed class SqlMappingException(string message) : Exception(message);
