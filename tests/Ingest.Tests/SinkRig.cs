using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Sinks.DeadLetter;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests;

/// <summary>An InfluxDB sink reading a buffer and writing to a <see cref="FakeInflux"/>, with fast retries.</summary>
internal sealed class SinkRig : IAsyncDisposable
{
    public readonly MemoryPointBuffer Buffer = new(1_000_000);
    public readonly FakeInflux Influx;
    public readonly MeasurementLog Metrics;

    /// <summary>The sink's stage counters, kept as the graph keeps them (received as taken, the rest by its telemetry).</summary>
    public readonly StageStats Stage = new(InfluxSink.RawName, "sink");
    private readonly InfluxSink _sink;
    public readonly DeadLetterStore? DeadLetters;
    public readonly string? DeadLetterDirectory;

    private readonly CancellationTokenSource _cts = new();
    private readonly Task _run;

    public SinkRig(Func<FakeInflux.Request, HttpResponseMessage> respond, InfluxOptions? options = null, DeadLetterOptions? deadLetter = null)
    {
        options ??= new InfluxOptions();
        options = options with { RetryInitialDelay = TimeSpan.FromMilliseconds(5), RetryMaxDelay = TimeSpan.FromMilliseconds(50) };
        Influx = new FakeInflux(respond);
        var meter = TestMeters.Create();
        Metrics = new MeasurementLog(meter);
        var client = new InfluxClient(new HttpClient(Influx) { BaseAddress = options.Url }, options);
        if (deadLetter is not null)
        {
            DeadLetterDirectory = Path.Combine(Path.GetTempPath(), "ingest-dl-" + Guid.NewGuid().ToString("N"));
            deadLetter = deadLetter with { Directory = DeadLetterDirectory };
            DeadLetters = new DeadLetterStore(deadLetter, meter, NullLogger<DeadLetterStore>.Instance);
        }
        var telemetry = new InfluxSinkTelemetry(new SinkInstruments(meter), NullLogger<InfluxSinkTelemetry>.Instance, InfluxSink.RawName, Stage);
        _sink = new InfluxSink(client, telemetry, b =>
        {
            Buffer.Release(b.Count);
            b.Release();
        }, DeadLetters, deadLetter, InfluxSink.RawName, long.MaxValue, ordered: false, received: b => Stage.AddReceived(b.Count));
        _run = _sink.RunAsync(Akka.Streams.Dsl.Source.From(() => Buffer.ReadAllAsync(_cts.Token)), TestStreams.Materializer, _cts.Token);
    }

    public InfluxSink Sink => _sink;

    /// <summary>Every block set aside so far, read back from the dead-letter files.</summary>
    public List<DeadLetterBlock> SetAside() =>
        DeadLetterDirectory is null ? [] : Directory.EnumerateFiles(DeadLetterDirectory, "*.lp").Order().SelectMany(DeadLetterFile.Read).ToList();

    /// <summary>The lines of every block set aside.</summary>
    public List<string> SetAsideLines() =>
        SetAside().SelectMany(b => System.Text.Encoding.UTF8.GetString(b.Lines).Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
    public async Task Enqueue(int points, int first = 0, string db = "")
    {
        Assert.True(await Buffer.TryEnqueueAsync(TestBatches.Make(points, first, db), TimeSpan.Zero));
    }

    /// <summary>Waits until the buffer is empty again, i.e. every point reached a final outcome.</summary>
    public async Task Drained(int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (Buffer.Depth > 0)
        {
            Assert.True(DateTime.UtcNow < until, $"buffer still holds {Buffer.Depth} points");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Buffer.Complete();
        // Generous: a loaded CI machine can be slow, but a sink that never finishes must still fail the test.
        try
        {
            await _run.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"sink did not stop: buffer depth {Buffer.Depth}, sink pending {_sink.Pending}, requests {Influx.Requests.Count}");
        }
        _cts.Dispose();
        Metrics.Dispose();
        DeadLetters?.Dispose();
        if (DeadLetterDirectory is not null && Directory.Exists(DeadLetterDirectory)) Directory.Delete(DeadLetterDirectory, recursive: true);
    }
}
