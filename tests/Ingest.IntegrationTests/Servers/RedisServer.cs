using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private redis-server on a loopback port, without persistence unless extra arguments ask for it
/// (e.g. <c>--appendonly yes</c> for durability tests). The port survives
/// <see cref="ManagedServer.StopAsync"/>/<see cref="ManagedServer.StartAsync"/>; without persistence options
/// the data set does not.
/// </summary>
public sealed class RedisServer : ManagedServer
{
    private const string DebianPackages = "redis-server";
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(20);

    private readonly IReadOnlyList<string> _extraArgs;

    /// <param name="extraArgs">Appended to the command line; later options override the defaults.</param>
    public RedisServer(IEnumerable<string>? extraArgs = null)
        : base("redis-server", DebianPackages, "ingest-redis-", "Address already in use", stopGrace: TimeSpan.FromSeconds(15))
    {
        _extraArgs = extraArgs?.ToArray() ?? Array.Empty<string>();
        Port = FreePort.Next();
    }

    public static Task<RedisServer> StartNewAsync(IEnumerable<string>? extraArgs = null, CancellationToken cancellationToken = default) =>
        StartedAsync(new RedisServer(extraArgs), cancellationToken);

    public int Port { get; private set; }
    public string Host => "127.0.0.1";
    /// <summary>"127.0.0.1:port", the form StackExchange.Redis and INGEST_Redis__Configuration take.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";
    public string DataDirectory => Folder;

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

    private protected override ServerProcess Launch()
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
        return StartProcess(args);
    }

    private protected override void MoveToNewPorts() => Port = FreePort.Next();

    private protected override Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        PollUntilReadyAsync(async ct =>
            {
                try
                {
                    // LOADING replies (while an AOF is replayed) are errors, so PONG means really ready.
                    return await CommandAsync(new[] { "PING" }, ct).ConfigureAwait(false) is "PONG";
                }
                catch (Exception ex) when (ex is SocketException or IOException or RedisErrorException or OperationCanceledException
                                           && !ct.IsCancellationRequested)
                {
                    return false;
                }
            },
            DefaultStartTimeout, $"redis-server on {ConnectionString} did not answer PING", "", cancellationToken);

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
