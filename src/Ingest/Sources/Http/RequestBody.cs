using System.IO.Compression;
using Ingest.LineProtocol;
using Microsoft.AspNetCore.Http;

namespace Ingest.Sources.Http;

public enum BodyError { None, TooLarge, BadGzip, UnsupportedEncoding, Aborted, NoMemory, Timeout }

/// <summary>What a body is read under: its size limit, the longest pause between two reads, and how long to wait for memory.</summary>
public readonly record struct BodyLimits(long MaxBytes, TimeSpan ReadTimeout, TimeSpan MemoryWait);

/// <summary>
/// A request body read whole into one buffer whose bytes are reserved in the <see cref="BodyBudget"/>.
/// Dispose gives the buffer and the reservation back.
/// </summary>
public sealed class RequestBody : IDisposable
{
    private Buffer? _buffer;

    private RequestBody(Buffer? buffer, int length, long wireBytes, BodyError error, string? detail)
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
    public ReadOnlySpan<byte> Span => _buffer is { } b ? b.Array.AsSpan(0, Length) : default;

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }

    /// <summary>
    /// Reads the body, decompressing <c>gzip</c>/<c>x-gzip</c> and checking that the gzip stream is complete. Stops
    /// with <see cref="BodyError.TooLarge"/> as soon as more than <see cref="BodyLimits.MaxBytes"/> (after
    /// decompression) arrive, with <see cref="BodyError.NoMemory"/> when the budget has no room for the next
    /// buffer within <see cref="BodyLimits.MemoryWait"/>, and with <see cref="BodyError.Timeout"/> when the
    /// client sends nothing for <see cref="BodyLimits.ReadTimeout"/>; in each case without reading the rest.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(HttpRequest request, BodyLimits limits, BodyBudget budget, CancellationToken ct)
    {
        var encoding = request.Headers.ContentEncoding.ToString().Trim();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase) || encoding.Equals("x-gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            return new RequestBody(null, 0, 0, BodyError.UnsupportedEncoding, $"unsupported Content-Encoding \"{encoding}\" (use gzip or identity)");
        if (request.ContentLength > limits.MaxBytes && !gzip)
            return await TooLargeAsync(request.Body, 0, limits.MaxBytes, ct).ConfigureAwait(false);
        if (request.ContentLength == 0) return new RequestBody(null, 0, 0, BodyError.None, null);

        // An array holds at most Array.MaxLength bytes; a larger limit is the same as that.
        int maxBytes = (int)Math.Min(limits.MaxBytes, Array.MaxLength - 1);
        var wire = new WireStream(request.Body);
        var buffer = new Buffer(budget);
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Stream source = gzip ? new GZipStream(wire, CompressionMode.Decompress, leaveOpen: true) : wire;
        int length = 0;
        var error = BodyError.None;
        string? detail = null;
        var consumed = false;
        var drainExcess = true;
        try
        {
            if (!await buffer.GrowAsync(FirstLength(request.ContentLength, gzip, maxBytes), 0, limits.MemoryWait, ct).ConfigureAwait(false))
                error = BodyError.NoMemory;
            while (error == BodyError.None)
            {
                int room = Math.Min(buffer.Array.Length, maxBytes) - length;
                if (room == 0)
                {
                    if (length >= maxBytes)
                    {
                        // Full at the limit: one byte more, and the body is too large.
                        if (await ReadAsync(source, new byte[1], silence, limits.ReadTimeout).ConfigureAwait(false) > 0) error = BodyError.TooLarge;
                        break;
                    }
                    // Waiting for memory is not the client's silence.
                    silence.CancelAfter(Timeout.InfiniteTimeSpan);
                    int next = (int)Math.Min(buffer.Array.Length * 2L, maxBytes);
                    if (!await buffer.GrowAsync(next, length, limits.MemoryWait, ct).ConfigureAwait(false)) error = BodyError.NoMemory;
                    continue;
                }
                int read = await ReadAsync(source, buffer.Array.AsMemory(length, room), silence, limits.ReadTimeout).ConfigureAwait(false);
                if (read == 0) break;
                length += read;
            }

            if (error == BodyError.None && gzip)
            {
                // The decoder stops at the end of the last member; the wire may hold more, which must be nothing.
                await DrainAsync(wire, silence, limits.ReadTimeout).ConfigureAwait(false);
                if (wire.Count > 0 && !wire.EndsWithGzipTrailer(buffer.Array.AsSpan(0, length)))
                    (error, detail) = (BodyError.BadGzip, "the stream is cut short or followed by other data (it does not end with the CRC-32 and size of what it holds)");
            }
            consumed = error is BodyError.None or BodyError.BadGzip;
        }
        catch (InvalidDataException)
        {
            // .NET's own text for this is misleading ("unsupported compression method" for a wrong checksum).
            (error, detail) = (BodyError.BadGzip, "the data is not a valid gzip stream (corrupt, or its CRC-32 or size does not match)");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Past Kestrel's own limit the rest is not drained: the connection closes.
            (error, drainExcess) = (BodyError.TooLarge, false);
        }
        catch (OperationCanceledException) when (silence.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            (error, detail) = (BodyError.Timeout, $"no body bytes for {limits.ReadTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException or OperationCanceledException)
        {
            (error, detail) = (BodyError.Aborted, e.Message);
        }
        finally
        {
            if (gzip) await source.DisposeAsync().ConfigureAwait(false);
        }

        if (error == BodyError.None) return new RequestBody(buffer, length, wire.Count, BodyError.None, null);
        buffer.Dispose();
        if (error == BodyError.TooLarge && drainExcess)
            return await TooLargeAsync(request.Body, wire.Count, limits.MaxBytes, ct).ConfigureAwait(false);
        return new RequestBody(null, 0, wire.Count, error, detail) { Consumed = consumed };
    }

    /// <summary>
    /// The first buffer: the whole body when its length is known; for gzip a guess from the compressed length,
    /// grown as needed, so that a small compressed body cannot reserve much before it has shown its size.
    /// </summary>
    private static int FirstLength(long? contentLength, bool gzip, long maxBytes)
    {
        long first = contentLength switch
        {
            null => 64 * 1024,
            { } n when gzip => Math.Clamp(n * 4, 4 * 1024, ByteBuffers.MaxPooledLength),
            { } n => n + 1, // the extra byte lets the read that finds the end return 0 without a growth
        };
        return (int)Math.Clamp(first, 1, maxBytes);
    }

    /// <summary>One read, cancelled when the client sends nothing for <paramref name="timeout"/>.</summary>
    private static ValueTask<int> ReadAsync(Stream source, Memory<byte> into, CancellationTokenSource silence, TimeSpan timeout)
    {
        silence.CancelAfter(timeout);
        return source.ReadAsync(into, silence.Token);
    }

    private static async Task DrainAsync(Stream wire, CancellationTokenSource silence, TimeSpan timeout)
    {
        var scratch = ByteBuffers.Rent(4096);
        try
        {
            while (await ReadAsync(wire, scratch, silence, timeout).ConfigureAwait(false) > 0) { }
        }
        finally
        {
            ByteBuffers.Return(scratch);
        }
    }

    /// <summary>
    /// Reads and discards the rest of an oversized body, up to <see cref="DrainFactor"/> times the limit, before
    /// the 413 is sent: a client still sending when the answer comes would see a broken pipe instead of the 413.
    /// Beyond that bound the body is abandoned and the connection must close.
    /// </summary>
    private static async Task<RequestBody> TooLargeAsync(Stream body, long alreadyRead, long maxBytes, CancellationToken ct)
    {
        var budget = maxBytes * DrainFactor;
        var scratch = ByteBuffers.Rent(64 * 1024);
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
            ByteBuffers.Return(scratch);
        }
        return new RequestBody(null, 0, read, BodyError.TooLarge, null) { Consumed = consumed };
    }

    /// <summary>How much of an oversized body is read and thrown away, as a multiple of the limit.</summary>
    public const int DrainFactor = 4;

    /// <summary>The body's buffer and its reservation in the budget, which always covers the buffer's length.</summary>
    private sealed class Buffer(BodyBudget budget) : IDisposable
    {
        public byte[] Array { get; private set; } = [];

        /// <summary>
        /// Moves the first <paramref name="keep"/> bytes into a buffer of at least <paramref name="minimumLength"/>,
        /// reserving it first; false when the budget has no room for it in time (the current buffer is kept).
        /// </summary>
        public async ValueTask<bool> GrowAsync(int minimumLength, int keep, TimeSpan wait, CancellationToken ct)
        {
            int length = ByteBuffers.LengthFor(minimumLength);
            if (!await budget.TryAcquireAsync(length, wait, ct).ConfigureAwait(false)) return false;
            var bigger = ByteBuffers.Rent(minimumLength);
            var old = Array;
            old.AsSpan(0, keep).CopyTo(bigger);
            Array = bigger;
            Give(old);
            return true;
        }

        public void Dispose()
        {
            Give(Array);
            Array = [];
        }

        private void Give(byte[] array)
        {
            if (array.Length == 0) return;
            ByteBuffers.Return(array);
            budget.Release(array.Length);
        }
    }
}
