using Ingest.Configuration;
using Ingest.Sources.Http.Query;

namespace Ingest.Tests.Query;

public class FluxScriptTests
{
    [Theory]
    [InlineData("from(bucket: \"db/autogen\") |> range(start: -1h) |> mean()")]
    [InlineData("import \"strings\"\nfrom(bucket: \"b\") |> range(start: -1h) |> map(fn: (r) => ({r with s: strings.toUpper(v: r.s)}))")]
    [InlineData("import s \"strings\"\nimport \"influxdata/influxdb/schema\"\nschema.measurements(bucket: \"b\")")]
    [InlineData("from(bucket: \"to(\") |> range(start: -1h)")] // to( inside a string is text
    [InlineData("// to(bucket: \"x\")\nfrom(bucket: \"b\") |> range(start: -1h)")] // and inside a comment
    [InlineData("from(bucket: \"b\") |> range(start: -1h) |> filter(fn: (r) => r.total > 0)")] // "total" is not "to"
    public void Reads_need_the_read_scope(string script) => Assert.Equal(Scopes.Read, FluxScript.Judge(script).Needs);

    [Theory]
    [InlineData("from(bucket: \"a\") |> range(start: -1h) |> to(bucket: \"b\")", "to()")]
    [InlineData("from(bucket: \"a\") |> range(start: -1h) |> to (bucket: \"b\")", "to()")]
    [InlineData("from(bucket: \"a\") |> range(start: -1h) |> wideTo(bucket: \"b\")", "wideTo()")]
    [InlineData("from(bucket: \"a\") |> range(start: -1h) |> experimental.to(bucket: \"b\")", "to()")]
    [InlineData("w = to\nfrom(bucket: \"a\") |> range(start: -1h) |> w(bucket: \"b\")", "to()")]
    [InlineData("import \"experimental\"\nfrom(bucket: \"a\") |> range(start: -1h) |> experimental.to(bucket: \"b\")", "\"experimental\"")]
    [InlineData("import \"sql\"\nsql.from(driverName: \"x\", dataSourceName: \"y\", query: \"z\")", "\"sql\"")]
    [InlineData("import \"http\"\nhttp.post(url: \"http://x\", data: bytes(v: \"\"))", "\"http\"")]
    [InlineData("import h \"http\"\nh.post(url: \"http://x\", data: bytes(v: \"\"))", "\"http\"")]
    [InlineData("import \"influxdata/influxdb\"\ninfluxdb.buckets()", "\"influxdata/influxdb\"")]
    [InlineData("import /* */ \"http\"", "import")]
    [InlineData("x = \"${string(v: 1)}\"", "interpolated")]
    [InlineData("x = \"abc", "unterminated")]
    public void Scripts_that_may_write_or_reach_out_need_admin(string script, string reason)
    {
        var (needs, why) = FluxScript.Judge(script);
        Assert.Equal(Scopes.Admin, needs);
        Assert.Contains(reason, why);
    }
}

public class BucketRetentionTests
{
    [Theory]
    [InlineData("0s", 0)]
    [InlineData("168h0m0s", 168 * 3600)]
    [InlineData("1h30m0s", 5400)]
    [InlineData("24h0m0s", 86400)]
    [InlineData("500ms", 0)]
    [InlineData("90s", 90)]
    public void InfluxDBs_durations_become_seconds(string text, long seconds) =>
        Assert.Equal(seconds, Ingest.Sources.Http.Query.BucketsEndpoint.GoDurationSeconds(text));
}
