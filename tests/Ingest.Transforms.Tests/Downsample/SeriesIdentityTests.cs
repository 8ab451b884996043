using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;
using static Ingest.Transforms.Tests.Downsample.DownsampleHarness;

namespace Ingest.Transforms.Tests.Downsample;

public class SeriesIdentityTests
{
    [Fact]
    public void Series_with_colliding_hashes_are_kept_apart_by_their_key_bytes()
    {
        var parsed = new PointBatch();
        new LineProtocolParser().Parse("cpu,host=a v=1 10\ncpu,host=b v=2 10\ncpu,host=a v=3 20\n"u8, Precision.Nanoseconds, 0, parsed);
        var forged = new PointBatch { Database = "db" };
        for (int i = 0; i < parsed.Count; i++)
        {
            forged.CopyPointFrom(parsed, i);
        }
        var colliding = new PointBatch { Database = "db" };
        for (int i = 0; i < forged.Count; i++)
        {
            var line = forged.Line(i);
            line.CopyTo(colliding.GetSpan(line.Length));
            colliding.Advance(line.Length);
            colliding.AddPoint(forged.Points[i] with { Offset = colliding.ByteLength - line.Length, SeriesHash = 42 });
        }

        var h = new DownsampleHarness(Tier(aggregates: "sum"));
        h.Process(colliding);
        var lines = h.Flush();

        Assert.Equal(["cpu_1m,host=a v_sum=4 0", "cpu_1m,host=b v_sum=2 0"], lines.Order());
    }

    [Fact]
    public void Series_are_forgotten_once_their_windows_close_so_churn_does_not_grow_the_catalog()
    {
        var h = new DownsampleHarness(Tier(aggregates: "count"));
        for (int minute = 0; minute < 30; minute++)
        {
            // A new set of series every minute, as with short-lived containers.
            var body = new StringBuilder();
            for (int s = 0; s < 2_000; s++) body.Append(Line($"cpu,pod=p{minute}-{s}", "v=1", Minutes(minute) + s));
            h.Process(body.ToString());
            Assert.True(h.Stage.InternedSeries <= 2 * 2_000, $"{h.Stage.InternedSeries} series interned at minute {minute}");
        }
        h.Flush();
        Assert.Equal(0, h.Stage.InternedSeries);
        Assert.Equal(30 * 2_000, h.Stage.GetStats(0).WindowsEmitted);
        Assert.Equal(30 * 2_000, h.Lines.Distinct().Count());
    }
}
