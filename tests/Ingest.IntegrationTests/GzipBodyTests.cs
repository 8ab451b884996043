using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

/// <summary>
/// A gzip body must be whole: a stream cut short (mid-block, or without its 8-byte CRC-32 and size trailer)
/// once passed for a complete one, and its cut-off last line was stored. Each case counts the points the
/// daemon accepted, on a daemon of its own.
/// </summary>
public class GzipBodyTests(LoneDaemon fixture) : IClassFixture<LoneDaemon>
{
    private DaemonProcess Daemon => fixture.Daemon;

    private static readonly byte[] Lines = Encoding.ASCII.GetBytes(string.Concat(
        Enumerable.Range(0, 5_000).Select(i => $"gz,host=h{i % 13} value={i * 0.5},n={i}i {1_700_000_000_000_000_000L + i}\n")));

    private static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    private async Task<(HttpStatusCode Status, string Text, long Accepted)> PostAsync(byte[] body)
    {
        var before = await AcceptedAsync();
        var content = new ByteArrayContent(body);
        content.Headers.ContentEncoding.Add("gzip");
        using var r = await Daemon.Client.PostAsync("write?db=gz", content);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, text, await AcceptedAsync() - before);
    }

    private async Task<long> AcceptedAsync() => (long)await Daemon.MetricAsync("ingest_points_accepted_total{endpoint=\"/write\"}");

    public static TheoryData<string> Damaged => new() { "60% of the stream", "no trailer", "half a trailer", "wrong CRC-32", "wrong size", "bytes after the end" };

    private static byte[] Damage(string how)
    {
        var gz = Gzip(Lines);
        switch (how)
        {
            case "60% of the stream": return gz[..(gz.Length * 6 / 10)];
            case "no trailer": return gz[..^8];
            case "half a trailer": return gz[..^4];
            case "wrong CRC-32":
                BinaryPrimitives.WriteUInt32LittleEndian(gz.AsSpan(gz.Length - 8), BinaryPrimitives.ReadUInt32LittleEndian(gz.AsSpan(gz.Length - 8)) ^ 1);
                return gz;
            case "wrong size":
                BinaryPrimitives.WriteUInt32LittleEndian(gz.AsSpan(gz.Length - 4), (uint)Lines.Length + 1);
                return gz;
            default: return [.. gz, 0, 0, 0, 0];
        }
    }

    [Theory]
    [MemberData(nameof(Damaged))]
    public async Task A_damaged_gzip_body_is_400_and_none_of_it_is_kept(string how)
    {
        var (status, text, accepted) = await PostAsync(Damage(how));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("unable to decompress gzip body: ", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
        Assert.Equal(0, accepted);
    }

    [Fact]
    public async Task A_whole_gzip_body_is_accepted()
    {
        var (status, text, accepted) = await PostAsync(Gzip(Lines));
        Assert.True(status == HttpStatusCode.NoContent, text);
        Assert.Equal(5_000, accepted);
    }

    [Fact]
    public async Task Concatenated_gzip_members_are_one_body()
    {
        int cut = Array.IndexOf(Lines, (byte)'\n', 100_000) + 1;
        var (status, text, accepted) = await PostAsync([.. Gzip(Lines.AsSpan(0, cut)), .. Gzip(Lines.AsSpan(cut))]);
        Assert.True(status == HttpStatusCode.NoContent, text);
        Assert.Equal(5_000, accepted);
    }

    [Fact]
    public async Task A_body_cut_inside_its_second_member_is_refused()
    {
        int cut = Array.IndexOf(Lines, (byte)'\n', 100_000) + 1;
        byte[] second = Gzip(Lines.AsSpan(cut));
        var (status, _, accepted) = await PostAsync([.. Gzip(Lines.AsSpan(0, cut)), .. second[..(second.Length / 2)]]);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(0, accepted);
    }

    [Fact]
    public async Task An_empty_member_is_an_empty_body()
    {
        var (status, _, accepted) = await PostAsync(Gzip([]));
        Assert.Equal(HttpStatusCode.NoContent, status);
        Assert.Equal(0, accepted);
    }
}
