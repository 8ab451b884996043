using System.Text.Json;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Sinks.Feed;

/// <summary>The feed's JSON: points and alert events as clients get them.</summary>
internal static class FeedJson
{
    public static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    public static void WritePoint(Utf8JsonWriter w, DecodedPoint p)
    {
        w.WriteStartObject();
        w.WriteString("measurement", p.Measurement);
        w.WriteStartObject("tags");
        foreach (var t in p.Tags) w.WriteString(t.Key, t.Value);
        w.WriteEndObject();
        w.WriteStartObject("fields");
        foreach (var f in p.Fields)
        {
            var v = f.Value;
            switch (v.Type)
            {
                case FieldType.Float: if (double.IsFinite(v.Float)) w.WriteNumber(f.Key, v.Float); else w.WriteString(f.Key, v.Float.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
                case FieldType.Integer: w.WriteNumber(f.Key, v.Integer); break;
                case FieldType.Unsigned: w.WriteNumber(f.Key, v.Unsigned); break;
                case FieldType.Boolean: w.WriteBoolean(f.Key, v.Boolean); break;
                default: w.WriteString(f.Key, v.String); break;
            }
        }
        w.WriteEndObject();
        w.WriteNumber("time", p.Timestamp);
        w.WriteEndObject();
    }

    public static void WriteAlert(Utf8JsonWriter w, AlertEvent e)
    {
        w.WriteStartObject();
        w.WriteString("id", e.AlertId);
        w.WriteString("rule", e.Rule);
        w.WriteString("database", e.Database);
        w.WriteString("seriesKey", e.SeriesKey);
        w.WriteString("measurement", e.Measurement);
        w.WriteStartObject("tags");
        foreach (var t in e.Tags) w.WriteString(t.Key, t.Value);
        w.WriteEndObject();
        w.WriteString("field", e.Field);
        w.WriteString("level", e.Level.ToString().ToLowerInvariant());
        w.WriteString("previous", e.Previous.ToString().ToLowerInvariant());
        if (double.IsFinite(e.Value)) w.WriteNumber("value", e.Value);
        w.WriteNumber("time", e.Timestamp);
        w.WriteString("message", e.Message);
        w.WriteEndObject();
    }

    /// <summary>An active alert as the alerts snapshot lists it.</summary>
    public static void WriteActive(Utf8JsonWriter w, ActiveAlert a)
    {
        w.WriteStartObject();
        w.WriteString("id", a.Id);
        w.WriteString("rule", a.Rule);
        w.WriteString("database", a.Database);
        w.WriteString("seriesKey", a.SeriesKey);
        w.WriteString("level", a.Level.ToString().ToLowerInvariant());
        if (double.IsFinite(a.Value)) w.WriteNumber("value", a.Value);
        w.WriteEndObject();
    }
}
