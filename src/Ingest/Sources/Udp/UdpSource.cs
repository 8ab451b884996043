using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Akka;
using Akka.Streams.Dsl;
using Akka.Util;
using Ingest.Configuration;

namespace Ingest.Sources.Udp;

/// <summary>A <c>udp</c> source's own keys: where to listen and how large the socket's receive buffer is.</summary>
public sealed record UdpSettings
{
    public const string DefaultListen = "127.0.0.1:8089";

    public IPEndPoint Listen { get; init; } = IPEndPoint.Parse(DefaultListen);

    /// <summary>The socket's receive buffer in bytes (SO_RCVBUF); 0 keeps the system's default.</summary>
    public int ReadBuffer { get; init; }

    internal static UdpSettings Read(SectionReader r)
    {
        var listen = r.String("Listen", DefaultListen);
        // ":8089" as in InfluxDB's bind-address: every interface.
        var text = listen.StartsWith(':') ? "0.0.0.0" + listen : listen;
        if (!IPEndPoint.TryParse(text, out var endpoint) || endpoint.Port == 0 || !text.Contains(':'))
            throw new ConfigurationError(r.Name + ":Listen", listen, "expected an IP address and port such as 127.0.0.1:8089, [::1]:8089 or :8089 (every interface)");
        return new UdpSettings
        {
            Listen = endpoint,
            ReadBuffer = r.Int("ReadBuffer", 0, 0, 256 << 20),
        };
    }

    internal static SourceType Type { get; } = new("udp", SourceDelivery.AtMostOnce, Read,
        (options, _) => new UdpConnector(options.SettingsAs<UdpSettings>()));
}

/// <summary>
/// InfluxDB's UDP listener: each datagram is one message (its lines decoded per <c>Format</c> and <c>Precision</c>),
/// at most once: what arrives while the daemon cannot take it, or while the socket's buffer is full, is lost.
/// </summary>
/// <remarks>
/// One receive buffer of the largest datagram's size, rented once per bind, takes every datagram; each message
/// gets a copy of its datagram, since the runner gathers messages before decoding them.
/// A listener that cannot bind (address in use, not local) is marked failed with the reason and tries again with
/// backoff, without stopping the daemon or the other sources.
/// </remarks>
internal sealed class UdpConnector(UdpSettings settings) : ISourceConnector
{
    /// <summary>The largest UDP payload (65 535 less the IP and UDP headers).</summary>
    private const int MaxDatagram = 65_527;

    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(30);

    public SourceDelivery Delivery => SourceDelivery.AtMostOnce;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context)
    {
        var subject = "udp://" + settings.Listen;
        return Source.UnfoldResourceAsync<SourceMessage, Listener>(
            () => BindAsync(context),
            async listener =>
            {
                try
                {
                    int n = await listener.Socket.ReceiveAsync(listener.Buffer, SocketFlags.None, context.Stopping).ConfigureAwait(false);
                    // The datagram is copied out of the receive buffer: messages are gathered before they are
                    // decoded, so the buffer is read again before this one's payload is.
                    return Option<SourceMessage>.Create(new SourceMessage(listener.Buffer.AsSpan(0, n).ToArray(), SourceMessage.Now(), subject));
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && context.Stopping.IsCancellationRequested)
                {
                    return Option<SourceMessage>.None;
                }
            },
            listener =>
            {
                listener.Dispose();
                return Task.FromResult(Done.Instance);
            });
    }

    private async Task<Listener> BindAsync(SourceContext context)
    {
        var wait = FirstRetry;
        while (true)
        {
            var socket = new Socket(settings.Listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                if (settings.ReadBuffer > 0) socket.ReceiveBufferSize = settings.ReadBuffer;
                socket.Bind(settings.Listen);
                context.Telemetry.SetState(SourceState.Connected);
                return new Listener(socket, ArrayPool<byte>.Shared.Rent(MaxDatagram));
            }
            catch (SocketException e)
            {
                socket.Dispose();
                context.Telemetry.SetState(SourceState.Failed, $"cannot listen on udp {settings.Listen}: {e.Message}");
            }
            await Task.Delay(wait, context.Stopping).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, LastRetry.Ticks));
        }
    }

    private sealed class Listener(Socket socket, byte[] buffer) : IDisposable
    {
        public Socket Socket { get; } = socket;
        public byte[] Buffer { get; } = buffer;

        public void Dispose()
        {
            Socket.Dispose();
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
