namespace Ingest.Sources;

/// <summary>
/// One message a source connector received: the payload its decoder turns into points, and how to tell the
/// upstream system what became of it: <see cref="Ack"/>, called once its points are admitted (durable), or taken
/// for good (bad input, what InfluxDB would refuse); <see cref="Nack"/>, called with the wait admission asked for
/// when the daemon did not take it and will not offer it again (an at-most-once or polled source refused for want
/// of room, or an at-least-once source stopping: the upstream may deliver it again). An at-least-once message
/// refused for want of room is not nacked: the source waits and offers it again itself. Both may be null.
/// </summary>
/// <param name="Payload">The message body as received (line protocol or JSON, per the source's <c>Format</c>). It
/// must stay valid and unchanged until the message is acknowledged or dropped: messages are gathered before they
/// are decoded, and an at-least-once message is decoded again when its batch is offered again.</param>
/// <param name="ArrivalNanoseconds">When it arrived (unix ns): the timestamp of points that carry none.</param>
/// <param name="Joined">How many upstream messages it stands for: a connector may join line-protocol messages that
/// waited (they are counted one by one in <c>ingest_source_messages_total</c>).</param>
/// <param name="Subject">Where it came from (NATS subject, Redis channel or key, URL): for logs and the <c>Json</c>
/// mapping's <c>@subject</c>.</param>
public readonly record struct SourceMessage(
    ReadOnlyMemory<byte> Payload,
    long ArrivalNanoseconds,
    string? Subject = null,
    Func<ValueTask>? Ack = null,
    Func<TimeSpan, ValueTask>? Nack = null,
    int Joined = 1)
{
    /// <summary>Now, as unix nanoseconds, for <see cref="ArrivalNanoseconds"/>.</summary>
    public static long Now() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
