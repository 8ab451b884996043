using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private redis-server on a loopback port, without persistence unless extra arguments ask for it
/// (e.g. <c>--appendonly yes</c> for durability tests). The port survives <see cref="StopAsync"/>/<see cref="StartAsync"/>.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private const string DebianPackages = "redis-server";
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(20);

    private readonly string _executable;
    private readonly IReadOnlyList<string> _extraArgs;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ServerProcess? _process;
    private bool _everStarted;
    private bool _disposed;

    /// <param name="extraArgs">Appended to the command line; later options override the defaults.</param>
    public RedisServer(IEnumerable<string>? extraArgs = null)
    {
        _executable = ServerProcess.FindExecutable("redis-server", DebianPackages);
        _extraArgs = extraArgs?.ToArray() ?? Array.Empty<string>();
        DataDirectory = Directory.CreateTempSubdirectory("ingest-redis-").FullName;
        Port = FreePort.Next();
    }

    public static async Task<RedisServer> StartNewAsync(IEnumerable<string>? extraArgs = null, CancellationToken cancellationToken = default)
    {
        var server = new RedisServer(extraArgs);
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public int Port { get; private set; }
    public string Host => "127.0.0.1";
    /// <summary>"127.0.0.1:port", the form StackExchange.Redis and INGEST_Redis__Configuration take.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";
    public string DataDirectory { get; }
    public bool IsRunning => _process is { HasExited: false };
    public string LogTail(int lines = 40) => ServerProcess.Tail(_log, lines);

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (IsRunning) return;
            var attempts = _everStarted ? 1 : 3;
            for (var attempt = 1; ; attempt++)
            {
                var args = new List<string>
                {
                    "--port", Port.ToString(CultureInfo.InvariantCulture),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", DataDirectory,
                    "--daemonize", "no",
                    "--logfile", "",
                };
                args.AddRange(_extraArgs);
                _process = ServerProcess.Start(_executable, args, DataDirectory, _log);
                try
                {
                    await WaitUntilReadyAsync(DefaultStartTimeout, cancellationToken).ConfigureAwait(false);
                    _everStarted = true;
                    return;
                }
                catch (ServerHarnessException) when (attempt < attempts && LogTail(20).Contains("Address already in use"))
                {
                    await KillCoreAsync().ConfigureAwait(false);
                    Port = FreePort.Next();
                }
                catch
                {
                    await KillCoreAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Graceful stop (SIGTERM). Without persistence options the data set is gone afterwards.</summary>
    public async Task StopAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_process is null) return;
            await _process.StopAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            _process = null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task KillAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try { await KillCoreAsync().ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await KillAsync().ConfigureAwait(false);
        _disposed = true;
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>True when the server answers PING with PONG.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await CommandAsync(new[] { "PING" }, cancellationToken).ConfigureAwait(false) is "PONG";
        }
        catch (Exception ex) when (ex is SocketException or IOException or RedisErrorException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sends one command over a fresh connection and returns the reply: string (simple/bulk), long (integer),
    /// null (nil) or object?[] (array). A RESP error reply throws <see cref="RedisErrorException"/>.
    /// </summary>
    public Task<object?> CommandAsync(params string[] args) => CommandAsync(args, CancellationToken.None);

    public async Task<object?> CommandAsync(string[] args, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        await client.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
        var stream = client.GetStream();

        var request = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
            request.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), timeout.Token).ConfigureAwait(false);

        var reader = new RespReader(stream);
        return await reader.ReadAsync(timeout.Token).ConfigureAwait(false);
    }

    private async Task KillCoreAsync()
    {
        if (_process is null) return;
        await _process.KillAsync().ConfigureAwait(false);
        _process = null;
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process is null || _process.HasExited)
            {
                _process?.DrainOutput();
                throw new ServerHarnessException($"redis-server exited during startup (exit code {_process?.ExitCode}). Log tail:\n{LogTail()}");
            }
            try
            {
                // LOADING replies (while an AOF is replayed) are errors, so PONG means really ready.
                if (await CommandAsync(new[] { "PING" }, cancellationToken).ConfigureAwait(false) is "PONG") return;
            }
            catch (Exception ex) when (ex is SocketException or IOException or RedisErrorException or OperationCanceledException
                                       && !cancellationToken.IsCancellationRequested) { }

            if (sw.Elapsed > timeout)
                throw new ServerHarnessException($"redis-server on {ConnectionString} did not answer PING within {timeout.TotalSeconds:0}s. Log tail:\n{LogTail()}");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Just enough RESP2 to read one reply.</summary>
    private sealed class RespReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start, _end;

        public async Task<object?> ReadAsync(CancellationToken ct)
        {
            var line = await ReadLineAsync(ct).ConfigureAwait(false);
            var body = line[1..];
            switch (line[0])
            {
                case '+': return body;
                case '-': throw new RedisErrorException(body);
                case ':': return long.Parse(body, CultureInfo.InvariantCulture);
                case '$':
                {
                    var len = int.Parse(body, CultureInfo.InvariantCulture);
                    if (len < 0) return null;
                    var bytes = await ReadExactAsync(len + 2, ct).ConfigureAwait(false);
                    return Encoding.UTF8.GetString(bytes, 0, len);
                }
                case '*':
                {
                    var count = int.Parse(body, CultureInfo.InvariantCulture);
                    if (count < 0) return null;
                    var items = new object?[count];
                    for (var i = 0; i < count; i++)
                    {
                        try { items[i] = await ReadAsync(ct).ConfigureAwait(false); }
                        catch (RedisErrorException ex) { items[i] = ex; }
                    }
                    return items;
                }
                default: throw new IOException($"unexpected RESP reply: {line}");
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var sb = new StringBuilder();
            while (true)
            {
                for (var i = _start; i < _end; i++)
                {
                    if (_buffer[i] == '\n')
                    {
                        sb.Append(Encoding.UTF8.GetString(_buffer, _start, i - _start));
                        _start = i + 1;
                        return sb.ToString().TrimEnd('\r');
                    }
                }
                sb.Append(Encoding.UTF8.GetString(_buffer, _start, _end - _start));
                await FillAsync(ct).ConfigureAwait(false);
            }
        }

        private async Task<byte[]> ReadExactAsync(int count, CancellationToken ct)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_start == _end) await FillAsync(ct).ConfigureAwait(false);
                var n = Math.Min(count - filled, _end - _start);
                Buffer.BlockCopy(_buffer, _start, result, filled, n);
                _start += n;
                filled += n;
            }
            return result;
        }

        private async Task FillAsync(CancellationToken ct)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
            if (_end == 0) throw new IOException("redis closed the connection");
        }
    }
}

/// <summary>A RESP error reply ("-ERR ...").</summary>
public sealed class RedisErrorException(string message) : Exception(message);
