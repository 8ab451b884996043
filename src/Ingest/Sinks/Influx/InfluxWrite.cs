using System.Net;
using System.IO.Compression;
using Ingest.LineProtocol;

namespace Ingest.Sinks.Influx;

/// <summary>Where a write goes: a 1.x database and retention policy, or a 2.x bucket.</summary>
public readonly record struct InfluxTarget(string Database, string RetentionPolicy);

/// <summary>A run of consecutive points of one buffered batch.</summary>
public readonly record struct Segment(PendingBatch Batch, int Start, int End)
{
    public int Points => End - Start;

    public ReadOnlyMemory<byte> Bytes
    {
        get
        {
            var points = Batch.Batch.Points;
            var from = points[Start].Offset;
            var last = points[End - 1];
            return Batch.Batch.DataMemory[from..(last.Offset + last.LineLength)];
        }
    }
}

/// <summary>
/// A buffered batch and how many of its points are still undelivered; when that reaches zero the points are
/// released from the buffer and the batch goes back to the pool.
/// </summary>
public sealed class PendingBatch(PointBatch batch)
{
    private int _remaining = batch.Count;

    public PointBatch Batch { get; } = batch;

    /// <summary>Marks <paramref name="points"/> delivered; true when this was the last of them.</summary>
    public bool Complete(int points) => Interlocked.Add(ref _remaining, -points) == 0;
}

/// <summary>One write request's worth of points for one target, made of segments of buffered batches.</summary>
public sealed class InfluxWrite(InfluxTarget target, List<Segment> segments)
{
    public InfluxTarget Target { get; } = target;
    public List<Segment> Segments { get; } = segments;
    public int Points => Segments.Sum(s => s.Points);

    /// <summary>Splits the write into two halves by points (for a 413 answer); null when it holds one point.</summary>
    public (InfluxWrite, InfluxWrite)? Split()
    {
        var total = Points;
        if (total < 2) return null;
        var half = total / 2;
        var first = new List<Segment>();
        var second = new List<Segment>();
        var taken = 0;
        foreach (var s in Segments)
        {
            if (taken >= half) { second.Add(s); continue; }
            var room = half - taken;
            if (s.Points <= room) { first.Add(s); taken += s.Points; continue; }
            first.Add(s with { End = s.Start + room });
            second.Add(s with { Start = s.Start + room });
            taken = half;
        }
        return (new InfluxWrite(Target, first), new InfluxWrite(Target, second));
    }

    public HttpContent CreateContent(bool gzip) => new SegmentsContent(Segments, gzip);

    /// <summary>Streams the segments' bytes, gzip-compressed on the fly, without building one joined body.</summary>
    private sealed class SegmentsContent : HttpContent
    {
        private readonly List<Segment> _segments;
        private readonly bool _gzip;

        public SegmentsContent(List<Segment> segments, bool gzip)
        {
            _segments = segments;
            _gzip = gzip;
            Headers.ContentType = new("text/plain") { CharSet = "utf-8" };
            if (gzip) Headers.ContentEncoding.Add("gzip");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            if (!_gzip)
            {
                foreach (var s in _segments) await stream.WriteAsync(s.Bytes, cancellationToken).ConfigureAwait(false);
                return;
            }
            await using var gz = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
            foreach (var s in _segments) await gz.WriteAsync(s.Bytes, cancellationToken).ConfigureAwait(false);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            if (_gzip) { length = 0; return false; }
            length = _segments.Sum(s => (long)s.Bytes.Length);
            return true;
        }
    }
}
