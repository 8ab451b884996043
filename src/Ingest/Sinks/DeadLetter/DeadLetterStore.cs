using System.Globalization;
using Ingest.Configuration;
using Ingest.Telemetry;
using Microsoft.Extensions.Logging;

namespace Ingest.Sinks.DeadLetter;

/// <summary>
/// Keeps the points InfluxDB will not store in line-protocol files (<see cref="DeadLetterFile"/>) under
/// <c>DeadLetter:Directory</c>, so that they are neither dropped nor retried for ever: an operator reads them and
/// replays them with <c>Ingest replay-dead-letters</c> once the cause is fixed.
/// </summary>
/// <remarks>
/// Thread-safe; appends are serialised and each is fsynced before it returns, since the caller releases the
/// points from the buffer and the write-ahead log right after. Setting points aside is rare, so one lock and
/// one fsync per block cost nothing that matters.
/// </remarks>
public sealed partial class DeadLetterStore : IDisposable
{
    /// <summary>A file is closed and a new one started past this size, so that replayed files can be removed whole.</summary>
    public const long RotateBytes = 64L << 20;

    private readonly object _sync = new();
    private readonly DeadLetterOptions _options;
    private readonly ILogger _logger;
    private FileStream? _current;
    private long _bytes;
    private int _files;
    private long _points;

    public DeadLetterStore(DeadLetterOptions options, IngestMeter meter, ILogger<DeadLetterStore> logger)
    {
        _options = options;
        _logger = logger;
        if (!options.Enabled) return;
        Directory = Path.GetFullPath(options.Directory);
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*" + DeadLetterFile.Extension))
            {
                _bytes += new FileInfo(file).Length;
                _files++;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationError("DeadLetter:Directory", options.Directory, $"the dead-letter directory cannot be used: {e.Message}");
        }
        if (_files > 0) LogExisting(Directory, _files, _bytes);
        var m = meter.Meter;
        m.CreateObservableGauge("ingest.dead_letter.size", () => Interlocked.Read(ref _bytes), "By", "Bytes of dead-letter files waiting to be replayed.");
        m.CreateObservableGauge("ingest.dead_letter.files", () => Volatile.Read(ref _files), "{file}", "Dead-letter files waiting to be replayed.");
    }

    public bool Enabled => _options.Enabled;

    /// <summary>The directory's full path; null when the dead letter is off.</summary>
    public string? Directory { get; }

    public long Bytes => Interlocked.Read(ref _bytes);
    public int Files => Volatile.Read(ref _files);

    /// <summary>Points set aside since the start.</summary>
    public long Points => Interlocked.Read(ref _points);

    /// <summary>
    /// Appends one block, durably. Returns null when the points are stored, else why not (the label under which
    /// the caller counts them dropped): <c>dead_letter_off</c>, <c>dead_letter_full</c> or <c>dead_letter_error</c>.
    /// </summary>
    public string? TryAppend(DeadLetterHeader header, IReadOnlyList<ReadOnlyMemory<byte>> lines)
    {
        if (!_options.Enabled) return "dead_letter_off";
        var headerLine = DeadLetterFile.HeaderLine(header);
        long size = headerLine.Length;
        foreach (var chunk in lines) size += chunk.Length;
        lock (_sync)
        {
            if (_bytes + size > _options.MaxBytes)
            {
                LogFull(Directory!, _options.MaxBytes, header.Points);
                return "dead_letter_full";
            }
            try
            {
                var file = Current(size);
                file.Write(headerLine);
                foreach (var chunk in lines) file.Write(chunk.Span);
                file.Flush(flushToDisk: true);
            }
            catch (IOException e)
            {
                // A half-written block is told apart by its header's point count; close the file so the next
                // block starts a new one.
                _current?.Dispose();
                _current = null;
                LogWriteFailed(Directory!, e.Message, header.Points);
                return "dead_letter_error";
            }
            _bytes += size;
            _points += header.Points;
            return null;
        }
    }

    private FileStream Current(long next)
    {
        if (_current is not null && _current.Length + next <= RotateBytes) return _current;
        _current?.Dispose();
        var name = "dead-letter-" + DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var path = Path.Combine(Directory!, name + DeadLetterFile.Extension);
        for (var n = 1; File.Exists(path); n++) path = Path.Combine(Directory!, $"{name}-{n}{DeadLetterFile.Extension}");
        _current = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        _files++;
        LogNewFile(path);
        return _current;
    }

    public void Dispose()
    {
        lock (_sync)
        {
            _current?.Dispose();
            _current = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dead-letter directory {Directory} holds {Files} files ({Bytes} bytes) of points InfluxDB would not store; replay them with: Ingest replay-dead-letters")]
    private partial void LogExisting(string directory, int files, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started dead-letter file {Path}")]
    private partial void LogNewFile(string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dead-letter directory {Directory} is at DeadLetter:MaxBytes ({MaxBytes} bytes): {Points} refused points dropped")]
    private partial void LogFull(string directory, long maxBytes, int points);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not write to the dead-letter directory {Directory} ({Error}): {Points} refused points dropped")]
    private partial void LogWriteFailed(string directory, string error, int points);
}
