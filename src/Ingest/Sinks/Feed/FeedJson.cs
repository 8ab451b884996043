using System.Text.Json;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Sinks.Feed;

/// <summary>The feed's JSON: points, alert events and active alerts as clients get them (<c>GET /api/alerts</c> writes its alerts with <see cref="WriteActive"/> too).</summary>
internal static class FeedJson
{
    public static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The <c>type</c> of a feed message, its first property as every message is written (the event's name on the
    /// event stream); <c>message</c> if it has none.
    /// </summary>
    public static string TypeOf(ReadOnlySpan<byte> message)
    {
        var r = new Utf8JsonReader(message);
        if (!(r.Read() && r.TokenType == JsonTokenType.StartObject && r.Read() && r.TokenType == JsonTokenType.PropertyName
              && r.ValueTextEquals("type"u8) && r.Read() && r.TokenType == JsonTokenType.String))
            return "message";
        foreach (var known in KnownTypes)
            if (r.ValueTextEquals(known)) return known;
        return r.GetString()!;
    }

    private static readonly string[] KnownTypes = ["points", "aggregates", "alerts", "conflated", "snapshot"];

    public static void WritePoint(Utf8JsonWriter w, DecodedPoint p)
    {
        w.WriteStartObject();
        w.WriteString("measurement", p.Measurement);
        WriteTags(w, p.Tags);
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
        WriteTags(w, e.Tags);
        w.WriteString("field", e.Field);
        w.WriteString("level", AlertLevelNames.Lower(e.Level));
        w.WriteString("previous", AlertLevelNames.Lower(e.Previous));
        if (double.IsFinite(e.Value)) w.WriteNumber("value", e.Value);
        w.WriteNumber("time", e.Timestamp);
        w.WriteString("message", e.Message);
        w.WriteEndObject();
    }

    /// <summary>
    /// An active alert, as <c>GET /api/alerts</c> lists it and the feed's alerts snapshot carries it: what names the
    /// alert is written as in <see cref="WriteAlert"/> (tags as an object), then its state (<c>since</c>, the
    /// acknowledgement) where an event has its transition (<c>previous</c>, <c>time</c>, <c>message</c>).
    /// </summary>
    public static void WriteActive(Utf8JsonWriter w, ActiveAlert a)
    {
        w.WriteStartObject();
        w.WriteString("id", a.Id);
        w.WriteString("rule", a.Rule);
        w.WriteString("database", a.Database);
        w.WriteString("seriesKey", a.SeriesKey);
        w.WriteString("measurement", a.Measurement);
        WriteTags(w, a.Tags);
        w.WriteString("field", a.Field);
        w.WriteString("level", AlertLevelNames.Lower(a.Level));
        w.WriteNumber("since", a.Since);
        if (double.IsFinite(a.Value)) w.WriteNumber("value", a.Value);
        if (a.AcknowledgedBy is { } by) w.WriteString("acknowledgedBy", by);
        else w.WriteNull("acknowledgedBy");
        if (a.AcknowledgedAt is { } at) w.WriteString("acknowledgedAt", at);
        else w.WriteNull("acknowledgedAt");
        w.WriteEndObject();
    }

    /// <summary>Tags as one object of key to value (<c>{"host":"a"}</c>), the form of every tag set in the API and the feed.</summary>
    private static void WriteTags(Utf8JsonWriter w, IReadOnlyList<DecodedTag> tags)
    {
        w.WriteStartObject("tags");
        for (var i = 0; i < tags.Count; i++) w.WriteString(tags[i].Key, tags[i].Value);
        w.WriteEndObject();
    }
}
