using System.Buffers;
using System.Text;

namespace Ingest.Sources.Web;

/// <summary>One dispatched server-sent event.</summary>
internal readonly record struct SseEvent(string Type, byte[] Data, string LastEventId);

/// <summary>
/// The <c>text/event-stream</c> format as the HTML standard's EventSource reads it, fed with the bytes of one
/// connection as they arrive: lines end with CRLF, LF or CR (also when split between two reads); a line starting
/// with <c>:</c> is a comment; <c>field: value</c> loses one space after the colon; <c>data</c> lines are joined
/// with LF; <c>event</c> names the type (<c>message</c> when none); <c>id</c> (unless it holds NUL) sets the last
/// event id, kept across events and connections; <c>retry</c> (digits only) sets the reconnection time; other
/// fields are ignored; a blank line dispatches the event, unless it has no data. A leading byte-order mark is
/// skipped; an event not ended by a blank line when the stream ends is discarded. Not thread-safe.
/// </summary>
internal sealed class SseParser
{
    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    private readonly ArrayBufferWriter<byte> _line = new(256);
    private readonly ArrayBufferWriter<byte> _data = new(256);
    private bool _hasData;
    private string _eventType = "";
    private bool _afterCr;
    private bool _atStart = true;
    private string _lastIdBuffer;

    public SseParser(string lastEventId = "") => _lastIdBuffer = lastEventId;

    /// <summary>The id of the last dispatched event (or of the last blank line after an <c>id</c>): Last-Event-ID.</summary>
    public string LastEventId { get; private set; } = "";

    /// <summary>The last <c>retry</c> the server sent, null if none.</summary>
    public TimeSpan? Retry { get; private set; }

    /// <summary>A new connection: a partial line or event of the last one is dropped, the last event id is kept.</summary>
    public void Restart()
    {
        _line.Clear();
        _data.Clear();
        _hasData = false;
        _eventType = "";
        _afterCr = false;
        _atStart = true;
        _lastIdBuffer = LastEventId;
    }

    /// <summary>Reads <paramref name="bytes"/>, calling <paramref name="dispatch"/> for each complete event.</summary>
    public void Feed(ReadOnlySpan<byte> bytes, Action<SseEvent> dispatch)
    {
        while (bytes.Length > 0)
        {
            if (_afterCr)
            {
                // CRLF: the LF belongs to the line the CR ended.
                _afterCr = false;
                if (bytes[0] == (byte)'\n')
                {
                    bytes = bytes[1..];
                    continue;
                }
            }
            var end = bytes.IndexOfAny((byte)'\r', (byte)'\n');
            if (end < 0)
            {
                _line.Write(bytes);
                return;
            }
            _line.Write(bytes[..end]);
            _afterCr = bytes[end] == (byte)'\r';
            bytes = bytes[(end + 1)..];
            Line(_line.WrittenSpan, dispatch);
            _line.Clear();
        }
    }

    private void Line(ReadOnlySpan<byte> line, Action<SseEvent> dispatch)
    {
        if (_atStart)
        {
            _atStart = false;
            if (line.StartsWith(Bom)) line = line[Bom.Length..];
        }
        if (line.IsEmpty)
        {
            Dispatch(dispatch);
            return;
        }
        if (line[0] == (byte)':') return;
        var colon = line.IndexOf((byte)':');
        ReadOnlySpan<byte> field, value;
        if (colon < 0)
        {
            field = line;
            value = default;
        }
        else
        {
            field = line[..colon];
            value = line[(colon + 1)..];
            if (value.Length > 0 && value[0] == (byte)' ') value = value[1..];
        }
        if (field.SequenceEqual("data"u8))
        {
            if (_hasData) _data.Write("\n"u8);
            _data.Write(value);
            _hasData = true;
        }
        else if (field.SequenceEqual("event"u8))
        {
            _eventType = Encoding.UTF8.GetString(value);
        }
        else if (field.SequenceEqual("id"u8))
        {
            if (value.IndexOf((byte)0) < 0) _lastIdBuffer = Encoding.UTF8.GetString(value);
        }
        else if (field.SequenceEqual("retry"u8))
        {
            if (value.Length > 0 && value.Length <= 9 && !value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            {
                var ms = 0;
                foreach (var b in value) ms = ms * 10 + (b - '0');
                Retry = TimeSpan.FromMilliseconds(ms);
            }
        }
    }

    private void Dispatch(Action<SseEvent> dispatch)
    {
        LastEventId = _lastIdBuffer;
        if (!_hasData)
        {
            _eventType = "";
            return;
        }
        var ev = new SseEvent(_eventType.Length > 0 ? _eventType : "message", _data.WrittenSpan.ToArray(), LastEventId);
        _data.Clear();
        _hasData = false;
        _eventType = "";
        dispatch(ev);
    }
}
