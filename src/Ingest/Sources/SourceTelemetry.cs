using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ingest.Telemetry;
using Microsoft.Extensions.Logging;

namespace Ingest.Sources;

/// <summary>Where a source's connection stands.</summary>
public enum SourceState
{
    /// <summary>Not connected yet, or connecting again after a loss.</summary>
    Connecting,

    /// <summary>Connected (or, for a polled source, its last poll answered).</summary>
    Connected,

    /// <summary>Lost or refused: waiting before the next attempt.</summary>
    BackingOff,

    /// <summary>Gave up for good (a configuration the upstream refuses); the other sources go on.</summary>
    Failed,
}

/// <summary>
/// One source's counters and state, shown in <c>/api/status</c> (<c>sources</c>) and exported by
/// <see cref="SourceInstruments"/> as <c>ingest_source_*</c> with a <c>source</c> label. Thread-safe.
/// </summary>
public sealed partial class SourceTelemetry(string name, string type, ILogger logger)
{
    private long _messages, _points, _decodeErrors, _reconnects, _lastMessageTicks;
    private int _state = (int)SourceState.Connecting;
    private long _lastDecodeLog;
    private volatile string? _lastError;

    public string Name { get; } = name;
    public string Type { get; } = type;
    public SourceState State => (SourceState)Volatile.Read(ref _state);
    public long Messages => Interlocked.Read(ref _messages);
    public long Points => Interlocked.Read(ref _points);
    public long DecodeErrors => Interlocked.Read(ref _decodeErrors);
    public long Reconnects => Interlocked.Read(ref _reconnects);
    public string? LastError => _lastError;
    /// <summary>Points dropped by reason; every reason starts at 0, so that each series exists from the start.</summary>
    public ConcurrentDictionary<string, long> Dropped { get; } = new(
        [new("buffer_full", 0L), new("refused", 0L), new("schema", 0L)], StringComparer.Ordinal);

    /// <summary>When the last message arrived; null before the first.</summary>
    public DateTimeOffset? LastMessageAt => Interlocked.Read(ref _lastMessageTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>Moves to <paramref name="state"/>; <paramref name="error"/> says why when it is a loss.</summary>
    public void SetState(SourceState state, string? error = null)
    {
        var before = (SourceState)Interlocked.Exchange(ref _state, (int)state);
        if (error is not null) _lastError = error;
        if (before == state) return;
        if (state == SourceState.Connected) LogConnected(Name, Type);
        else if (state is SourceState.BackingOff or SourceState.Failed) LogLost(Name, Type, state, error ?? "");
    }

    /// <summary>A reconnect after a loss (counted in <c>ingest_source_reconnects_total</c>).</summary>
    public void Reconnected() => Interlocked.Increment(ref _reconnects);

    /// <summary>A message (or <paramref name="messages"/> joined) was received and decoded into <paramref name="points"/>, with <paramref name="errors"/> bad items.</summary>
    public void Message(int points, int errors, string? firstError, string? subject, int messages = 1)
    {
        Interlocked.Add(ref _messages, messages);
        Interlocked.Add(ref _points, points);
        Interlocked.Exchange(ref _lastMessageTicks, DateTimeOffset.UtcNow.UtcTicks);
        if (errors == 0) return;
        Interlocked.Add(ref _decodeErrors, errors);
        // Logged at most once a minute per source, with a sample: a stream of bad messages must not flood the log.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastDecodeLog);
        if (now - last >= 60_000 || last == 0)
        {
            if (Interlocked.CompareExchange(ref _lastDecodeLog, now, last) == last)
                LogDecodeError(Name, errors, subject ?? "", firstError ?? "");
        }
    }

    /// <summary>Points dropped for <paramref name="reason"/> (buffer_full, refused, …).</summary>
    public void Drop(string reason, long points) => Dropped.AddOrUpdate(reason, points, (_, v) => v + points);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source} ({Type}) connected")]
    private partial void LogConnected(string source, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source} ({Type}) {State}: {Error}")]
    private partial void LogLost(string source, string type, SourceState state, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source}: {Errors} items of a message from {Subject} could not be decoded, first: {Error} (logged at most once a minute; counted in ingest_source_decode_errors_total)")]
    private partial void LogDecodeError(string source, int errors, string subject, string error);
}

/// <summary>Every source's <see cref="SourceTelemetry"/> as <c>ingest_source_*</c> metrics.</summary>
public sealed class SourceInstruments
{
    private readonly List<SourceTelemetry> _sources = new();

    public SourceInstruments(IngestMeter meter)
    {
        var m = meter.Meter;
        m.CreateObservableCounter("ingest.source.messages", () => Each(s => s.Messages), "{message}", "Messages a source received, by source.");
        m.CreateObservableCounter("ingest.source.points", () => Each(s => s.Points), "{point}", "Points decoded from a source's messages, by source.");
        m.CreateObservableCounter("ingest.source.decode.errors", () => Each(s => s.DecodeErrors), "{item}",
            "Items of a source's messages that could not be decoded (a bad line, a JSON element without its fields), by source.");
        m.CreateObservableCounter("ingest.source.reconnects", () => Each(s => s.Reconnects), "{reconnect}", "Times a source connected again after a loss, by source.");
        m.CreateObservableCounter("ingest.source.dropped", () => Sources.SelectMany(s => s.Dropped.Select(d =>
                new Measurement<long>(d.Value, new("source", s.Name), new("reason", d.Key)))), "{point}",
            "Points a source dropped, by source and reason: buffer_full (its buffer full with drop-oldest or drop-newest), refused (the daemon refused them: paused, buffer or log full).");
        m.CreateObservableGauge("ingest.source.state", () => Sources.SelectMany(s => Enum.GetValues<SourceState>().Select(state =>
                new Measurement<long>(s.State == state ? 1 : 0, new("source", s.Name), new("state", StateName(state))))), "",
            "1 for the state a source is in (connecting, connected, backing_off, failed), 0 for the others.");
        m.CreateObservableGauge("ingest.source.last.message", () => Sources.Where(s => s.LastMessageAt is not null).Select(s =>
                new Measurement<double>(s.LastMessageAt!.Value.ToUnixTimeMilliseconds() / 1000.0, new KeyValuePair<string, object?>("source", s.Name))), "s",
            "When a source's last message arrived, unix seconds, by source.");
    }

    public IReadOnlyList<SourceTelemetry> Sources { get { lock (_sources) return _sources.ToList(); } }

    public SourceTelemetry Register(SourceTelemetry telemetry)
    {
        lock (_sources) _sources.Add(telemetry);
        return telemetry;
    }

    /// <summary>A source a reload removed (or gave another type): its series leave the metrics and the status.</summary>
    public void Unregister(SourceTelemetry telemetry)
    {
        lock (_sources) _sources.Remove(telemetry);
    }

    /// <summary>Every source as <c>/api/status</c> and the status in Redis show it.</summary>
    public IEnumerable<object> Describe() => Sources.Select(s => new
    {
        name = s.Name,
        type = s.Type,
        state = StateName(s.State),
        lastMessageAt = s.LastMessageAt,
        messages = s.Messages,
        points = s.Points,
        decodeErrors = s.DecodeErrors,
        dropped = s.Dropped.ToDictionary(d => d.Key, d => d.Value),
        reconnects = s.Reconnects,
        lastError = s.LastError,
    });

    public static string StateName(SourceState state) => state switch
    {
        SourceState.Connecting => "connecting",
        SourceState.Connected => "connected",
        SourceState.BackingOff => "backing_off",
        _ => "failed",
    };

    private IEnumerable<Measurement<long>> Each(Func<SourceTelemetry, long> value) =>
        Sources.Select(s => new Measurement<long>(value(s), new KeyValuePair<string, object?>("source", s.Name)));
}
