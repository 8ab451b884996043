using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Thresholds;

namespace Ingest.Transforms.Tests.Thresholds;

public class AlertLineWriterTests
{
    private static AlertEvent Event(string measurement = "cpu", params DecodedTag[] tags) => new(
        "0123456789abcdef", "cpu_high", "metrics", "ignored", measurement, tags, "usage",
        AlertLevel.Ok, AlertLevel.Crit, AlertReason.Threshold, 97.2, 1_700_000_000_000_000_000,
        "cpu usage on host=a is 97.2, above 90 (CRIT)");

    private static string Write(AlertEvent e, AlertLineWriter? writer = null)
    {
        var batch = new PointBatch();
        (writer ?? new AlertLineWriter()).Write(e, batch);
        return Encoding.UTF8.GetString(batch.Data);
    }

    [Fact]
    public void Writes_SortedTagsFieldsAndEventTime()
    {
        Assert.Equal(
            "alerts,host=a,level=crit,measurement=cpu,rule=cpu_high " +
            "value=97.2,previous=\"ok\",message=\"cpu usage on host=a is 97.2, above 90 (CRIT)\" 1700000000000000000\n",
            Write(Event("cpu", new DecodedTag("host", "a"))));
    }

    [Fact]
    public void Escapes_TagsAndStrings()
    {
        var e = Event("disk io", new DecodedTag("path", "C:\\data dir"), new DecodedTag("a,b", "x=y")) with
        {
            Message = "say \"hi\" \\ bye",
            Previous = AlertLevel.NoData,
        };
        Assert.Equal(
            "alerts,a\\,b=x\\=y,level=crit,measurement=disk\\ io,path=C:\\data\\ dir,rule=cpu_high " +
            "value=97.2,previous=\"nodata\",message=\"say \\\"hi\\\" \\\\ bye\" 1700000000000000000\n",
            Write(e));
    }

    [Fact]
    public void SeriesTagsNamedLikeAlertTags_AreRenamed()
    {
        Assert.Equal(
            "alerts,level=crit,measurement=cpu,rule=cpu_high,series_rule=r1 " +
            "value=97.2,previous=\"ok\",message=\"m\" 1700000000000000000\n",
            Write(Event("cpu", new DecodedTag("rule", "r1")) with { Message = "m" }));
    }

    [Fact]
    public void NoValue_LeavesTheValueFieldOut()
    {
        Assert.Equal(
            "events,level=crit,measurement=cpu,rule=cpu_high previous=\"ok\",message=\"m\" 1700000000000000000\n",
            Write(Event() with { Value = double.NaN, Message = "m" }, new AlertLineWriter("events")));
    }

    [Fact]
    public void Output_IsCanonical_AsTheParserWouldWriteIt()
    {
        var written = new PointBatch();
        new AlertLineWriter().Write(Event("m", new DecodedTag("b", "1"), new DecodedTag("a b", "2"), new DecodedTag("a[", "3")), written);
        var parsed = new PointBatch();
        new LineProtocolParser().Parse(written.Data, Precision.Nanoseconds, 0, parsed);
        Assert.Equal(Encoding.UTF8.GetString(parsed.Data), Encoding.UTF8.GetString(written.Data));
        Assert.Equal(parsed.Points[0], written.Points[0]);
    }
}
