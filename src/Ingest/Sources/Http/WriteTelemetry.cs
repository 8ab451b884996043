using System.Diagnostics.Metrics;
using Ingest.Telemetry;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources.Http;

/// <summary>Instruments and log events of the InfluxDB-compatible write endpoints.</summary>
public sealed partial class WriteTelemetry
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _received;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _refused;
    private readonly ILogger _logger;

    public WriteTelemetry(IngestMeter meter, BodyBudget bodies, ILogger<WriteTelemetry> logger)
    {
        var m = meter.Meter;
        _requests = m.CreateCounter<long>("ingest.write.requests", "{request}", "Write requests answered, by endpoint and status code.");
        _bytes = m.CreateCounter<long>("ingest.write.received", "By", "Request body bytes received on the write endpoints, as sent (before decompression).");
        _received = m.CreateCounter<long>("ingest.points.received", "{point}", "Lines received on the write endpoints that were not blank or comments, good or bad.");
        _accepted = m.CreateCounter<long>("ingest.points.accepted", "{point}", "Points acknowledged to the client and handed to the buffer.");
        _rejected = m.CreateCounter<long>("ingest.points.rejected", "{point}", "Points refused at a write endpoint, by reason: parse (bad line), schema (InfluxDB would refuse them: unknown database or retention policy, field type conflict, older than the retention policy keeps) or buffer_full (answered 503).");
        _refused = m.CreateCounter<long>("ingest.write.refused", "{request}",
            "Write requests refused while their body was being read, by reason: body_memory (bodies in flight at Http:MaxBodyBytesInFlight, answered 503) or body_timeout (client silent for Http:BodyReadTimeout, answered 408).");
        m.CreateObservableGauge("ingest.http.body.memory", () => bodies.InFlight, "By",
            "Memory reserved by the buffers of request bodies being read or parsed.");
        m.CreateObservableGauge("ingest.http.body.memory.peak", () => bodies.Peak, "By",
            "Most memory request bodies held at once since start.");
        m.CreateObservableGauge("ingest.http.body.memory.limit", () => bodies.Capacity, "By",
            "Http:MaxBodyBytesInFlight: most memory request bodies may hold at once.");
        _logger = logger;
    }

    public void Request(string endpoint, int status) =>
        _requests.Add(1, new("endpoint", endpoint), new("status", status));

    public void BytesReceived(string endpoint, long bytes) => _bytes.Add(bytes, new KeyValuePair<string, object?>("endpoint", endpoint));

    public void Parsed(string endpoint, int good, int bad)
    {
        var tag = new KeyValuePair<string, object?>("endpoint", endpoint);
        _received.Add(good + bad, tag);
        if (bad > 0) _rejected.Add(bad, tag, new("reason", "parse"));
    }

    public void SchemaRefused(string endpoint, int points) =>
        _rejected.Add(points, new("endpoint", endpoint), new("reason", "schema"));

    public void Refused(string endpoint, string reason)
    {
        _refused.Add(1, new("endpoint", endpoint), new("reason", reason));
        LogRefused(endpoint, reason);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a write on {Endpoint} while reading its body: {Reason}")]
    private partial void LogRefused(string endpoint, string reason);

    public void Accepted(string endpoint, int points) => _accepted.Add(points, new KeyValuePair<string, object?>("endpoint", endpoint));

    public void BufferFull(string endpoint, int points)
    {
        _rejected.Add(points, new("endpoint", endpoint), new("reason", "buffer_full"));
        LogBufferFull(endpoint, points);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Buffer full: refused {Points} points on {Endpoint} with 503")]
    private partial void LogBufferFull(string endpoint, int points);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Rejected {BadLines} bad lines on {Endpoint}, first: {FirstError}")]
    public partial void BadLines(string endpoint, int badLines, string firstError);
}
