using System.Diagnostics.Metrics;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.DependencyInjection;
using Ingest.Telemetry;

namespace Ingest.Buffering;

/// <summary>Gauges of the buffer between the write endpoints and the sinks.</summary>
public sealed class BufferTelemetry
{
    public BufferTelemetry(IngestMeter meter, IPointBuffer buffer, [FromKeyedServices(InfluxSink.RawName)] InfluxSink raw)
    {
        var m = meter.Meter;
        m.CreateObservableGauge("ingest.buffer.points", () => buffer.Depth, "{point}",
            "Points acknowledged to clients and not yet delivered to InfluxDB (or refused by it for good).");
        m.CreateObservableGauge("ingest.buffer.capacity", () => buffer.Capacity, "{point}",
            "Most points the buffer holds before writes are answered 503.");
        m.CreateObservableGauge("ingest.sink.points.pending", () => raw.Pending, "{point}",
            "Points the raw InfluxDB sink has taken from its queue and is batching or sending.");
    }
}
