using System.Net;
using System.Net.Sockets;

namespace Ingest.IntegrationTests.Servers;

/// <summary>Hands out loopback TCP ports that are free at the time of the call.</summary>
/// <remarks>
/// Ports are drawn below the kernel's ephemeral range. A server we stop during an outage test
/// leaves its port unbound while clients keep reconnecting to it; inside the ephemeral range such
/// a reconnect can be assigned that very port as its source port (TCP self-connect), which then
/// blocks the restart. Outside the range the kernel never hands the port to a client.
/// </remarks>
public static class FreePort
{
    private static readonly HashSet<int> Issued = new();
    private static readonly object Gate = new();

    /// <summary>A free 127.0.0.1 port, never the same one twice in this process.</summary>
    public static int Next()
    {
        var (low, high) = CandidateRange();
        lock (Gate)
        {
            if (high > low)
            {
                for (var attempt = 0; attempt < 200; attempt++)
                {
                    var port = Random.Shared.Next(low, high);
                    if (!Issued.Contains(port) && CanBind(port))
                    {
                        Issued.Add(port);
                        return port;
                    }
                }
            }

            // Fallback: let the kernel choose (inside the ephemeral range).
            for (var attempt = 0; attempt < 50; attempt++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Issued.Add(port)) return port;
            }
            throw new InvalidOperationException("Could not find a free loopback port.");
        }
    }

    /// <summary>True when nothing listens on 127.0.0.1:<paramref name="port"/>.</summary>
    public static bool CanBind(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static (int Low, int High) CandidateRange()
    {
        var ephemeralLow = 32768;
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
            var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && int.TryParse(parts[0], out var parsed)) ephemeralLow = parsed;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }

        // 20000 keeps clear of well-known service ports that developers run locally.
        return (20000, Math.Min(ephemeralLow, 65535));
    }
}
