using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ingest.Sources.Decoding;
using StackExchange.Redis;

namespace Ingest.Sources.Redis;

/// <summary>
/// Hashes mode: every <c>Interval</c> (the first poll at once), the keys matching <c>Pattern</c> (SCAN) and their
/// fields (HGETALL, pipelined) become one message, every point of it at the poll's time. With <c>Format: line</c>
/// (the default) each key is a point of <c>Measurement</c> tagged <c>key</c> = the key less the pattern's plain
/// prefix, each field whose value is a finite number a float field and the others string fields (left out with
/// <c>NumericOnly</c>); with <c>Format: json</c> the payload is an array of one object per key,
/// <c>{"@key": "peer:a", "field": "value", …}</c>, values as Redis holds them (strings), for the JSON mapping.
/// A key that is not a hash is skipped. Polls only when pulled: a backed-up daemon polls less often, not more.
/// </summary>
internal sealed class RedisHashPoller(RedisSourceConnector connector, SourceContext context) : IPulledReader
{
    private const int ScanCount = 1000;
    private const int FetchChunk = 500;

    private readonly RedisSourceSettings _settings = connector.Settings;
    private readonly bool _json = connector.Options.Payload.Format == PayloadFormat.Json;
    private IDatabase _db = null!;
    private long _due;

    public async Task StartAsync()
    {
        _db = (await connector.ConnectAsync(context).ConfigureAwait(false)).GetDatabase();
        _due = Environment.TickCount64;
    }

    public async Task<SourceMessage?> NextAsync()
    {
        while (true)
        {
            var wait = _due - Environment.TickCount64;
            if (wait > 0) await Task.Delay(TimeSpan.FromMilliseconds(wait), context.Stopping).ConfigureAwait(false);
            context.Stopping.ThrowIfCancellationRequested();
            var started = SourceMessage.Now();
            List<(string Key, HashEntry[] Fields)> hashes;
            try
            {
                hashes = await PollAsync().ConfigureAwait(false);
                context.Telemetry.SetState(SourceState.Connected);
            }
            catch (Exception e) when (RedisSourceConnector.IsConnectionLoss(e))
            {
                await RedisSourceConnector.WaitForConnectionAsync(context, e).ConfigureAwait(false);
                continue;
            }
            _due = Environment.TickCount64 + (long)_settings.Interval.TotalMilliseconds;
            var payload = _json ? Json(hashes) : LineProtocol(hashes, _settings);
            if (payload.Length == 0) continue;
            return new SourceMessage(payload, started, _settings.Pattern);
        }
    }

    private async Task<List<(string, HashEntry[])>> PollAsync()
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        long cursor = 0;
        do
        {
            var reply = (RedisResult[])(await _db.ExecuteAsync("SCAN", cursor, "MATCH", _settings.Pattern, "COUNT", ScanCount).ConfigureAwait(false))!;
            cursor = long.Parse((string)reply[0]!, CultureInfo.InvariantCulture);
            foreach (var key in (string[])reply[1]!) keys.Add(key);
        } while (cursor != 0);

        var ordered = keys.Order(StringComparer.Ordinal).ToArray();
        var hashes = new List<(string, HashEntry[])>(ordered.Length);
        foreach (var chunk in ordered.Chunk(FetchChunk))
        {
            var fetches = chunk.Select(k => _db.HashGetAllAsync(k)).ToArray();
            for (var i = 0; i < chunk.Length; i++)
            {
                try
                {
                    var fields = await fetches[i].ConfigureAwait(false);
                    if (fields.Length > 0) hashes.Add((chunk[i], fields));
                }
                catch (RedisServerException e) when (e.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
                {
                    // A key of the pattern that is not a hash: not this source's.
                }
            }
        }
        return hashes;
    }

    /// <summary>One line per hash, without a timestamp (the poll's time is the message's).</summary>
    internal static byte[] LineProtocol(IEnumerable<(string Key, HashEntry[] Fields)> hashes, RedisSourceSettings settings)
    {
        var text = new StringBuilder();
        var prefix = settings.PatternPrefix;
        foreach (var (key, fields) in hashes)
        {
            var start = text.Length;
            Escape(text, settings.Measurement, measurement: true);
            var tag = key.StartsWith(prefix, StringComparison.Ordinal) ? key[prefix.Length..] : key;
            if (tag.Length > 0)
            {
                text.Append(",key=");
                Escape(text, tag, measurement: false);
            }
            var first = true;
            foreach (var field in fields)
            {
                var name = field.Name.ToString();
                if (name.Length == 0) continue;
                var value = field.Value.ToString();
                var isNumber = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number);
                if (!isNumber && settings.NumericOnly) continue;
                text.Append(first ? ' ' : ',');
                first = false;
                Escape(text, name, measurement: false);
                text.Append('=');
                if (isNumber) text.Append(number.ToString("R", CultureInfo.InvariantCulture));
                else text.Append('"').Append(value.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
            }
            if (first) text.Length = start; // no field kept: no point
            else text.Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static void Escape(StringBuilder text, string name, bool measurement)
    {
        foreach (var c in name)
        {
            if (c is ',' or ' ' || (!measurement && c == '=')) text.Append('\\');
            text.Append(c);
        }
    }

    /// <summary>An array of one object per hash: <c>@key</c> and its fields, values as strings.</summary>
    internal static byte[] Json(IEnumerable<(string Key, HashEntry[] Fields)> hashes)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var any = false;
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var (key, fields) in hashes)
            {
                any = true;
                json.WriteStartObject();
                json.WriteString("@key", key);
                foreach (var field in fields) json.WriteString(field.Name.ToString(), field.Value.ToString());
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        return any ? buffer.WrittenSpan.ToArray() : [];
    }
}
