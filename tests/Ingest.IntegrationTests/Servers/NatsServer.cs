using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private nats-server with JetStream (<c>-js</c>) on a loopback port, its JetStream store in its temp folder.
/// The port and the stored streams survive <see cref="ManagedServer.StopAsync"/>/<see cref="ManagedServer.StartAsync"/>.
/// </summary>
public sealed class NatsServer : ManagedServer
{
    private const string DebianPackages = "nats-server";
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(20);

    public NatsServer()
        : base("nats-server", DebianPackages, "ingest-nats-", "address already in use", stopGrace: TimeSpan.FromSeconds(10))
    {
        Port = FreePort.Next();
    }

    public static Task<NatsServer> StartNewAsync(CancellationToken cancellationToken = default) =>
        StartedAsync(new NatsServer(), cancellationToken);

    public int Port { get; private set; }

    /// <summary>nats://127.0.0.1:port, the form of the daemon's <c>Sources:&lt;name&gt;:Url</c>.</summary>
    public string Url => $"nats://127.0.0.1:{Port}";

    public string StoreDirectory => Path.Combine(Folder, "jetstream");

    private protected override ServerProcess Launch() => StartProcess(new[]
    {
        "-js",
        "-a", "127.0.0.1",
        "-p", Port.ToString(CultureInfo.InvariantCulture),
        "-sd", StoreDirectory,
    });

    private protected override void MoveToNewPorts() => Port = FreePort.Next();

    /// <summary>Ready when a client connection gets the server's INFO line.</summary>
    private protected override Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        PollUntilReadyAsync(async ct =>
            {
                try
                {
                    using var client = new TcpClient();
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(2));
                    await client.ConnectAsync("127.0.0.1", Port, timeout.Token).ConfigureAwait(false);
                    var buffer = new byte[5];
                    var read = 0;
                    while (read < buffer.Length)
                    {
                        var n = await client.GetStream().ReadAsync(buffer.AsMemory(read), timeout.Token).ConfigureAwait(false);
                        if (n == 0) return false;
                        read += n;
                    }
                    return Encoding.ASCII.GetString(buffer) == "INFO ";
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    return false;
                }
            },
            DefaultStartTimeout, $"nats-server on {Url} did not send INFO", "", cancellationToken);
}
