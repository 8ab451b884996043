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
