using System.Buffers;
using System.IO.Compression;
using Microsoft.AspNetCore.Http;

namespace Ingest.Sources.Http;

public enum BodyError { None, TooLarge, BadGzip, UnsupportedEncoding, Aborted }

/// <summary>A request body read whole into a pooled buffer. Dispose returns the buffer.</summary>
public sealed class RequestBody : IDisposable
{
    private byte[]? _buffer;

    private RequestBody(byte[]? buffer, int length, long wireBytes, BodyError error, string? detail)
    {
        _buffer = buffer;
        Length = length;
        WireBytes = wireBytes;
        Error = error;
        Detail = detail;
    }

    public int Length { get; }

    /// <summary>Bytes as they came over the wire (compressed, when they were).</summary>
    public long WireBytes { get; }

    public BodyError Error { get; }

    /// <summary>True when the request body was read to its end, so the connection can serve another request.</summary>
    public bool Consumed { get; private init; } = true;
    public string? Detail { get; }
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    public void Dispose()
    {
        if (_buffer is { } b) ArrayPool<byte>.Shared.Return(b);
        _buffer = null;
    }

    /// <summary>
    /// Reads the body, decompressing <c>gzip</c>/<c>x-gzip</c>, and stops with <see cref="BodyError.TooLarge"/> as
    /// soon as more than <paramref name="maxBytes"/> (after decompression) arrive, without reading the rest.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        var encoding = request.Headers.ContentEncoding.ToString().Trim();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase) || encoding.Equals("x-gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            return new RequestBody(null, 0, 0, BodyError.UnsupportedEncoding, $"unsupported Content-Encoding \"{encoding}\" (use gzip or identity)");
        if (request.ContentLength > maxBytes && !gzip)
            return await TooLargeAsync(request.Body, 0, maxBytes, ct).ConfigureAwait(false);

        var counting = new CountingStream(request.Body);
        Stream source = gzip ? new GZipStream(counting, CompressionMode.Decompress, leaveOpen: true) : counting;
        var initial = (int)Math.Clamp(request.ContentLength is { } cl ? (gzip ? cl * 4 : cl) + 1 : 64 * 1024, 1024, Math.Min(maxBytes + 1, 64L * 1024 * 1024));
        var buffer = ArrayPool<byte>.Shared.Rent(initial);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > maxBytes) break;
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, maxBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var read = await source.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (read == 0) break;
                length += read;
                if (length > maxBytes) break;
            }
        }
        catch (InvalidDataException e)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return new RequestBody(null, 0, counting.Count, BodyError.BadGzip, e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return new RequestBody(null, 0, counting.Count, BodyError.TooLarge, null) { Consumed = false };
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException or OperationCanceledException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return new RequestBody(null, 0, counting.Count, BodyError.Aborted, e.Message);
        }
        finally
        {
            if (gzip) await source.DisposeAsync().ConfigureAwait(false);
        }

        if (length > maxBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return await TooLargeAsync(request.Body, counting.Count, maxBytes, ct).ConfigureAwait(false);
        }
        return new RequestBody(buffer, length, counting.Count, BodyError.None, null);
    }

    /// <summary>
    /// Reads and discards the rest of an oversized body, up to <see cref="DrainFactor"/> times the limit, before
    /// the 413 is sent: a client still sending when the answer comes would see a broken pipe instead of the 413.
    /// Beyond that bound the body is abandoned and the connection must close.
    /// </summary>
    private static async Task<RequestBody> TooLargeAsync(Stream body, long alreadyRead, long maxBytes, CancellationToken ct)
    {
        var budget = maxBytes * DrainFactor;
        var scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var read = alreadyRead;
        var consumed = false;
        try
        {
            while (read <= budget)
            {
                var n = await body.ReadAsync(scratch, ct).ConfigureAwait(false);
                if (n == 0) { consumed = true; break; }
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException or OperationCanceledException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
        return new RequestBody(null, 0, read, BodyError.TooLarge, null) { Consumed = consumed };
    }

    /// <summary>How much of an oversized body is read and thrown away, as a multiple of the limit.</summary>
    public const int DrainFactor = 4;

    /// <summary>Counts the bytes read from the wire, under any decompression.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Add(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            Add(await inner.ReadAsync(buffer, ct).ConfigureAwait(false));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Add(int n)
        {
            Count += n;
            return n;
        }
    }
}
