using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;

namespace Ingest.IntegrationTests;

/// <summary>
/// The memory of request bodies in flight is bounded as a whole (<c>Http:MaxBodyBytesInFlight</c>), not only
/// per request: slow gzip uploads that expand a hundredfold and then hold their connections once took a daemon
/// from 0.45 to 2.96 GB.
/// </summary>
public class BodyMemoryTests
{
    private const int MaxBody = 2_000_000;
    private const int Budget = 3 * MaxBody;

    /// <summary>
    /// Gzip of points with long strings of one byte, ~1.9 MB expanded from a few KB, after a member of random
    /// text: ~80 KB on the wire, so that Kestrel's minimum data rate (240 B/s after a 5 s grace) does not end a
    /// held upload for minutes, and what ends it in these tests is the daemon's own doing.
    /// </summary>
    private static readonly byte[] Bomb = CreateBomb();

    private static byte[] CreateBomb()
    {
        var random = new Random(7);
        var padding = string.Concat(Enumerable.Range(0, 10).Select(_ =>
            "pad,host=a s=\"" + Convert.ToHexString(Enumerable.Range(0, 8_000).Select(_ => (byte)random.Next(256)).ToArray()) + "\"\n"));
        var line = Encoding.ASCII.GetBytes("blob,host=a s=\"" + new string('x', 60_000) + "\"\n");
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true)) gz.Write(Encoding.ASCII.GetBytes(padding));
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (int written = padding.Length; written + line.Length < MaxBody - 100_000; written += line.Length) gz.Write(line);
        }
        return ms.ToArray();
    }

    private static Task<DaemonProcess> StartAsync(string readTimeout) => DaemonProcess.StartAsync(new Dictionary<string, string>
    {
        ["Influx:Url"] = "http://127.0.0.1:9",
        ["Http:MaxBodySize"] = MaxBody.ToString(),
        ["Http:MaxBodyBytesInFlight"] = Budget.ToString(),
        ["Http:BodyReadTimeout"] = readTimeout,
        ["Buffer:FullWaitTimeout"] = "300ms",
    });

    [Fact]
    public async Task Slow_gzip_uploads_never_hold_more_than_the_budget_and_a_normal_write_gets_204_or_a_clean_503()
    {
        await using var daemon = await StartAsync("60s");
        const int uploads = 12;
        // All but the last bytes of the stream: each body expands almost whole and then waits for its end.
        var slow = await Task.WhenAll(Enumerable.Range(0, uploads).Select(_ => SlowUpload.StartAsync(daemon.Port, Bomb, Bomb.Length - 16)));
        try
        {
            // At most Budget / MaxBody bodies can be whole in memory; every other one must be refused.
            var answers = slow.Select(u => u.AnswerAsync()).ToArray();
            double highest = 0;
            var until = DateTime.UtcNow.AddSeconds(60);
            while (answers.Count(a => a.IsCompleted) < uploads - Budget / MaxBody)
            {
                Assert.True(DateTime.UtcNow < until, $"only {answers.Count(a => a.IsCompleted)} of {uploads} uploads were answered");
                highest = Math.Max(highest, await daemon.MetricAsync("ingest_http_body_memory_bytes"));
                await Task.Delay(50);
            }
            foreach (var answer in answers.Where(a => a.IsCompleted).Select(a => a.Result))
            {
                Assert.Equal(503, answer.Status);
                Assert.Contains("Retry-After: 1", answer.Head);
                Assert.Contains("Http:MaxBodyBytesInFlight", answer.Body);
            }

            Assert.InRange(highest, 0, Budget);
            Assert.InRange(await daemon.MetricAsync("ingest_http_body_memory_peak_bytes"), MaxBody, Budget);
            Assert.Equal(Budget, await daemon.MetricAsync("ingest_http_body_memory_limit_bytes"));
            var refused = await daemon.MetricAsync("ingest_write_refused_total{endpoint=\"/write\",reason=\"body_memory\"}");
            Assert.Equal(answers.Count(a => a.IsCompleted), refused);

            // A normal write meanwhile: taken if the held bodies left room for it, else a clean 503.
            using (var normal = await daemon.Client.PostAsync("write?db=normal", new StringContent("m v=1 1\n")))
            {
                Assert.True(normal.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.ServiceUnavailable, normal.StatusCode.ToString());
                if (normal.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.Equal("1", normal.Headers.GetValues("Retry-After").Single());
                    var error = JsonDocument.Parse(await normal.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
                    Assert.Contains("Http:MaxBodyBytesInFlight", error);
                }
            }
        }
        finally
        {
            foreach (var u in slow) u.Dispose();
        }

        // Once the holders are gone, their memory is given back and writes are taken again.
        await WaitForAsync(daemon, "ingest_http_body_memory_bytes", 0);
        using var after = await daemon.Client.PostAsync("write?db=normal", new StringContent("m v=2 2\n"));
        Assert.Equal(HttpStatusCode.NoContent, after.StatusCode);
    }

    [Theory]
    [InlineData("/write?db=slow", "\"error\":\"unable to read data: no body bytes for 1 s\"")]
    [InlineData("/api/v2/write?bucket=slow&org=o", "\"code\":\"request timeout\",\"message\":\"unable to read data: no body bytes for 1 s\"")]
    public async Task A_client_silent_in_the_middle_of_its_body_gets_408_and_gives_its_memory_back(string target, string error)
    {
        await using var daemon = await StartAsync("1s");
        var clock = Stopwatch.StartNew();
        using var upload = await SlowUpload.StartAsync(daemon.Port, Bomb, Bomb.Length / 2, target);
        var answer = await upload.AnswerAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(408, answer.Status);
        Assert.Contains(error, answer.Body);
        // Kestrel's own minimum data rate would end it too, but only after its 5 s grace period.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"answered after {clock.Elapsed}");
        var endpoint = target[..target.IndexOf('?')];
        Assert.Equal(1, await daemon.MetricAsync($"ingest_write_refused_total{{endpoint=\"{endpoint}\",reason=\"body_timeout\"}}"));
        await WaitForAsync(daemon, "ingest_http_body_memory_bytes", 0);
    }

    private static async Task WaitForAsync(DaemonProcess daemon, string sample, double value)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        double last;
        while ((last = await daemon.MetricAsync(sample)) != value)
        {
            Assert.True(DateTime.UtcNow < until, $"{sample} stayed at {last}, not {value}");
            await Task.Delay(50);
        }
    }

    /// <summary>A gzip write whose body is sent in part and then held, over a raw connection.</summary>

}
