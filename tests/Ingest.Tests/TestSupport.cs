using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Ingest.Tests;

internal static class TestBatches
{
    /// <summary>A batch of canonical lines <c>m,id=N v=N N</c>, numbered from <paramref name="first"/>.</summary>
    public static PointBatch Make(int points, int first = 0, string database = "")
    {
        var b = new PointBatch { Database = database };
        for (var i = first; i < first + points; i++)
        {
            var key = $"m,id={i}";
            var fields = $"v={i}";
            var line = Encoding.UTF8.GetBytes($"{key} {fields} {i}\n");
            var offset = b.ByteLength;
            line.CopyTo(b.GetSpan(line.Length));
            b.Advance(line.Length);
            b.AddPoint(new PointRef(offset, line.Length, key.Length, fields.Length, i, (ulong)i));
        }
        return b;
    }
}

/// <summary>Collects the measurements of one meter instance, for asserting what a component counted.</summary>
internal sealed class MeasurementLog : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Name, double Value, Dictionary<string, object?> Tags)> _items = new();

    public MeasurementLog(IngestMeter meter)
    {
        _listener.InstrumentPublished = (i, l) => { if (i.Meter == meter.Meter) l.EnableMeasurementEvents(i); };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i.Name, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i.Name, v, tags));
        _listener.Start();
    }

    private void Add(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, object?>();
        foreach (var t in tags) d[t.Key] = t.Value;
        lock (_items) _items.Add((name, value, d));
    }

    public double Sum(string name, string? tag = null, object? value = null)
    {
        lock (_items)
            return _items.Where(i => i.Name == name && (tag is null || Equals(i.Tags.GetValueOrDefault(tag)?.ToString(), value?.ToString()))).Sum(i => i.Value);
    }

    public void Dispose() => _listener.Dispose();
}

internal static class TestMeters
{
    public static IngestMeter Create() =>
        new(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
}

/// <summary>An InfluxDB stand-in for error paths a real server cannot be made to produce on demand.</summary>
internal sealed class FakeInflux : HttpMessageHandler
{
    private readonly Func<Request, HttpResponseMessage> _respond;
    private readonly List<Request> _requests = new();

    public FakeInflux(Func<Request, HttpResponseMessage> respond) => _respond = respond;

    public sealed record Request(string Path, string Query, string[] Lines, bool Gzip)
    {
        /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp at which the request reached the stand-in.</summary>
        public long Arrived { get; init; }
    }

    public IReadOnlyList<Request> Requests { get { lock (_requests) return _requests.ToList(); } }

    public IEnumerable<string> StoredLines { get; private set; } = [];
    private readonly List<string> _stored = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var arrived = System.Diagnostics.Stopwatch.GetTimestamp();
        var bytes = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(ct);
        var gzip = request.Content?.Headers.ContentEncoding.Contains("gzip") == true;
        if (gzip)
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            await gz.CopyToAsync(ms, ct);
            bytes = ms.ToArray();
        }
        var lines = Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var r = new Request(request.RequestUri!.AbsolutePath, request.RequestUri.Query, lines, gzip) { Arrived = arrived };
        lock (_requests) _requests.Add(r);
        var response = _respond(r);
        if (response.IsSuccessStatusCode && r.Path.EndsWith("write"))
            lock (_stored) { _stored.AddRange(lines); StoredLines = _stored.ToList(); }
        return response;
    }

    public static HttpResponseMessage Status(int code, string? json = null, int? retryAfter = null)
    {
        var m = new HttpResponseMessage((HttpStatusCode)code);
        if (json is not null) m.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (retryAfter is { } s) m.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(s));
        return m;
    }
}

/// <summary>The daemon's stream graph for tests, on one actor system shared by the test assembly.</summary>
internal static class TestStreams
{
    private static readonly Lazy<Akka.Streams.IMaterializer> Shared = new(() =>
        Akka.Streams.ActorMaterializer.Create(Akka.Actor.ActorSystem.Create("ingest-tests", "akka.stdout-loglevel = OFF\nakka.loglevel = WARNING")));

    public static Akka.Streams.IMaterializer Materializer => Shared.Value;

    /// <summary>
    /// A raw sink that hands each batch to <paramref name="raw"/>, as the daemon's raw sink would take it, and
    /// completes the queue when the raw branch ends.
    /// </summary>
    public static Akka.Streams.Dsl.Sink<Ingest.LineProtocol.PointBatch, Task> Into(Ingest.Graph.StageQueue raw) =>
        Akka.Streams.Dsl.Sink.ForEachAsync<Ingest.LineProtocol.PointBatch>(1, async b => await raw.WriteAsync(b))
            .MapMaterializedValue(done => (Task)done.ContinueWith(t =>
            {
                raw.Complete();
                return t;
            }, TaskScheduler.Default).Unwrap());

    /// <summary>Starts <paramref name="runner"/>'s branches over <paramref name="buffer"/>, its raw branch into <paramref name="raw"/>.</summary>
    public static Ingest.Graph.StreamGraph Start(Ingest.Buffering.IPointBuffer buffer, Ingest.Graph.TransformRunner runner, Ingest.Graph.StageQueue raw,
        long transformsCapacity = 1_000_000) =>
        Ingest.Graph.StreamGraph.Run(buffer, runner, Into(raw), new Ingest.Graph.StageStats("buffer", "buffer"), transformsCapacity, Materializer,
            CancellationToken.None);

    /// <summary>Runs <paramref name="runner"/>'s branches over <paramref name="buffer"/> until it is completed and drained.</summary>
    public static Task RunAsync(Ingest.Buffering.IPointBuffer buffer, Ingest.Graph.TransformRunner runner, Ingest.Graph.StageQueue raw,
        long transformsCapacity = 1_000_000) =>
        Start(buffer, runner, raw, transformsCapacity).Completion;
}
