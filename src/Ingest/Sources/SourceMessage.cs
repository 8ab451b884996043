namespace Ingest.Sources;

/// <summary>
/// One message a source connector received: the payload its decoder turns into points, and, for an at-least-once
/// source, how to tell the upstream system it is safe (<see cref="Ack"/>, called once the points are admitted,
/// that is durable) or that it should be delivered again (<see cref="Nack"/>, called when the daemon refused it
/// for good or is stopping; may be null, the upstream then redelivers on its own, e.g. after a restart).
/// </summary>
/// <param name="Payload">The message body as received (line protocol or JSON, per the source's <c>Format</c>). It
/// must stay valid and unchanged until the message is acknowledged or dropped: messages are gathered before they
/// are decoded, and an at-least-once message is decoded again when its batch is offered again.</param>
/// <param name="ArrivalNanoseconds">When it arrived (unix ns): the timestamp of points that carry none.</param>
/// <param name="Subject">Where it came from (NATS subject, Redis channel or key, URL): for logs and the <c>Json</c>
/// mapping's <c>@subject</c>.</param>
public readonly record struct SourceMessage(
    ReadOnlyMemory<byte> Payload,
    long ArrivalNanoseconds,
    string? Subject = null,
    Func<ValueTask>? Ack = null,
    Func<ValueTask>? Nack = null)
{
    /// <summary>Now, as unix nanoseconds, for <see cref="ArrivalNanoseconds"/>.</summary>
    public static long Now() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
