using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ingest.IntegrationTests.Daemon;

/// <summary>A gzip write over a raw connection that sends only part of its body and then falls silent.</summary>
internal sealed class SlowUpload : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private SlowUpload(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<SlowUpload> StartAsync(int port, byte[] gzip, int send, string target = "/write?db=slow")
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var upload = new SlowUpload(client);
        var head = $"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Encoding: gzip\r\n" +
            $"Content-Length: {gzip.Length}\r\n\r\n";
        await upload._stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await upload._stream.WriteAsync(gzip.AsMemory(0, send));
        return upload;
    }

    /// <summary>The answer, read until the server closes the connection (as it does after refusing a body).</summary>
    public async Task<(int Status, string Head, string Body)> AnswerAsync()
    {
        var received = new MemoryStream();
        var chunk = new byte[4096];
        try
        {
            int n;
            while ((n = await _stream.ReadAsync(chunk)) > 0) received.Write(chunk, 0, n);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        var text = Encoding.UTF8.GetString(received.ToArray());
        int split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        // Status 0: the connection ended without an answer.
        if (split < 0) return (0, text, "");
        return (int.Parse(text.Split(' ')[1]), text[..split], text[(split + 4)..]);
    }

    public void Dispose()
    {
        _stream.Dispose();
        _client.Dispose();
    }
}
