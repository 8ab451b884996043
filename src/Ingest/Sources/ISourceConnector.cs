using Akka;
using Akka.Streams.Dsl;
using Ingest.Configuration;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources;

/// <summary>How a source type delivers: what its acknowledgements promise.</summary>
public enum SourceDelivery
{
    /// <summary>A message the daemon could not take is lost (counted): WebSocket, SSE, pub/sub, NATS core, UDP.</summary>
    AtMostOnce,

    /// <summary>A message is acknowledged upstream only once admitted (durable): Redis streams and lists, JetStream.</summary>
    AtLeastOnce,

    /// <summary>Each poll is one batch and the next poll reads the current state again: HTTP, SQL, Redis hashes.</summary>
    Polled,
}

/// <summary>
/// A source type's connection to its upstream system. Lifecycle: <see cref="Messages"/> is called once when the
/// daemon starts the source; the stream it gives runs until the daemon stops (the context's
/// <see cref="SourceContext.Stopping"/>) and must not fail or complete on a lost connection: a connector that
/// reconnects keeps itself alive (<c>RestartSource.WithBackoff</c>, or its client's own reconnect), reporting each
/// state through <see cref="SourceContext.Telemetry"/>. Concurrency: the stream is materialized once; the
/// connector must honour backpressure (not read more than is pulled) when its delivery is at least once.
/// </summary>
public interface ISourceConnector
{
    SourceDelivery Delivery { get; }

    Source<SourceMessage, NotUsed> Messages(SourceContext context);
}

/// <summary>What a connector gets from the daemon for one source.</summary>
public sealed class SourceContext(SourceOptions options, SourceTelemetry telemetry, ILogger logger, IngestOptions daemon, CancellationToken stopping)
{
    public string Name => Options.Name;
    public SourceOptions Options { get; } = options;
    public SourceTelemetry Telemetry { get; } = telemetry;
    public ILogger Logger { get; } = logger;

    /// <summary>The daemon's configuration (its Redis connection string, for example).</summary>
    public IngestOptions Daemon { get; } = daemon;

    /// <summary>Cancelled when the daemon stops.</summary>
    public CancellationToken Stopping { get; } = stopping;
}
