using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Live;
using Microsoft.Extensions.Configuration;

namespace Ingest.Tests;

public class LiveStateTests
{
    private static PointBatch Batch(string body, string database = "")
    {
        var batch = new PointBatch { Database = database };
        var summary = new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
        Assert.Equal(0, summary.BadLines);
        return batch;
    }

    private static LiveStateTransform Live(int maxSeries = 1000, long now = 1_000_000) =>
        new(new LiveOptions { MaxSeries = maxSeries, Expiry = TimeSpan.FromSeconds(10) }, "metrics") { Clock = () => now };

    private static string Text(ReadOnlyMemory<byte> utf8) => Encoding.UTF8.GetString(utf8.Span);

    /// <summary>One flush: the series taken, as the snapshot shows them after it.</summary>
    private static Dictionary<string, LiveSeries> Take(LiveStateTransform live)
    {
        var list = new List<LiveWrite>();
        live.TakeDirty(list);
        var published = live.Snapshot(null, [], null).ToDictionary(s => s.Id);
        return list.ToDictionary(w => Text(w.Id), w =>
        {
            var s = published[Text(w.Id)];
            // What Redis gets is what the snapshot shows.
            Assert.Equal(live.KeyPrefix + s.Id, Text(w.RedisKey));
            Assert.Equal(s.UpdatedMs, w.UpdatedMs);
            Assert.Equal(s.Fields.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (f.Key, f.Key + ":ts", f.Value.Value, f.Value.Timestamp)),
                w.Fields.Select(f => (Text(f.Name), Text(f.TsName), Text(f.Value), f.Timestamp)).OrderBy(f => f.Item1, StringComparer.Ordinal));
            return s;
        });
    }

    [Fact]
    public void Newest_timestamp_wins_per_field_and_older_points_are_ignored()
    {
        var live = Live();
        live.Process(Batch("cpu,host=a usage=1,idle=9 100\ncpu,host=a usage=2 200\ncpu,host=a usage=3 150\n"), null!);
        live.Process(Batch("cpu,host=a idle=8 50\ncpu,host=a usage=4 200\n"), null!);

        var s = Take(live)["metrics:cpu,host=a"];
        Assert.Equal(new LiveField("4", FieldType.Float, 200), s.Fields["usage"]); // equal time: later arrival wins
        Assert.Equal(new LiveField("9", FieldType.Float, 100), s.Fields["idle"]);  // 50 is older than 100
        Assert.Equal("cpu", s.Measurement);
        Assert.Equal([new("host", "a")], s.Tags);
    }

    /// <summary>
    /// Against a plain model: per series and field, the newest event time wins, the later arrival at equal times.
    /// Points come with their fields in changing orders and subsets, gain and lose fields, carry quoted strings
    /// (with commas, spaces and escaped quotes), escaped keys and values longer than any before them: every path a
    /// point can take through the transform's per-series state.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Every_series_and_field_holds_its_newest_value_whatever_the_order_and_shape_of_its_points(int seed)
    {
        var rng = new Random(seed);
        string[] keys = ["a", "bb", "c\\,d", "e\\=f", "g\\ h", "a2", "long_field_name_x"];
        string[] names = ["a", "bb", "c,d", "e=f", "g h", "a2", "long_field_name_x"];
        var live = Live();
        var model = new Dictionary<(string Series, string Field), (string Text, FieldType Type, long Time)>();
        for (var b = 0; b < 60; b++)
        {
            var body = new StringBuilder();
            for (var n = 0; n < 50; n++)
            {
                var series = "m,host=h" + rng.Next(6);
                var time = rng.Next(1, 200);
                var order = Enumerable.Range(0, keys.Length).OrderBy(_ => rng.Next()).Take(rng.Next(1, keys.Length + 1)).ToList();
                // Mostly the series' usual fields in the usual order, as real writers send them.
                if (rng.Next(3) > 0) order = Enumerable.Range(0, 3).ToList();
                body.Append(series).Append(' ');
                for (var j = 0; j < order.Count; j++)
                {
                    var (raw, text, type) = rng.Next(6) switch
                    {
                        0 => ("-" + rng.Next(1000) + "i", "-" + rng.Next(1000).ToString(), FieldType.Integer),
                        1 => ("t", "true", FieldType.Boolean),
                        2 => ("\"x, y \\\"z\\\"\"", "x, y \"z\"", FieldType.String),
                        3 => (new string('9', rng.Next(1, 40)) + ".5", "", FieldType.Float),
                        _ => (rng.Next(100) + "." + rng.Next(100), "", FieldType.Float),
                    };
                    if (type == FieldType.Float) text = raw;
                    if (type == FieldType.Integer) text = raw[..^1];
                    if (j > 0) body.Append(',');
                    body.Append(keys[order[j]]).Append('=').Append(raw);
                    var key = (series, names[order[j]]);
                    if (!model.TryGetValue(key, out var old) || time >= old.Time) model[key] = (text, type, time);
                }
                body.Append(' ').Append(time).Append('\n');
            }
            live.Process(Batch(body.ToString()), null!);
            if (rng.Next(4) == 0 || b == 59)
            {
                Take(live);
                var snapshot = live.Snapshot(null, [], null)
                    .SelectMany(s => s.Fields.Select(f => ((s.SeriesKey, f.Key), (f.Value.Value, f.Value.Type, f.Value.Timestamp))))
                    .ToDictionary(e => e.Item1, e => e.Item2);
                Assert.Equal(model.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal), snapshot.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal));
            }
        }
    }

    [Fact]
    public void The_Redis_key_of_a_series_is_the_prefix_then_database_and_series_key()
    {
        foreach (var (prefix, expected) in new[] { ((string?)null, "ingest:live:metrics:cpu,host=a"), ("site2:live:", "site2:live:metrics:cpu,host=a") })
        {
            var live = new LiveStateTransform(new LiveOptions(), "metrics", keyPrefix: prefix);
            live.Process(Batch("cpu,host=a usage=1 100\n"), null!);
            var list = new List<LiveWrite>();
            live.TakeDirty(list);
            Assert.Equal(expected, Text(Assert.Single(list).RedisKey));
        }
    }

    [Fact]
    public void Fields_of_every_type_are_kept_as_text()
    {
        var live = Live();
        live.Process(Batch("m,t=x f=1.5,i=-3i,u=7u,b=T,s=\"he said \\\"hi\\\"\" 10\n"), null!);
        var f = Take(live)["metrics:m,t=x"].Fields;
        Assert.Equal(5, f.Count);
        Assert.Equal("1.5", f["f"].Value);
        Assert.Equal("-3", f["i"].Value);
        Assert.Equal(FieldType.Integer, f["i"].Type);
        Assert.Equal("7", f["u"].Value);
        Assert.Equal("true", f["b"].Value);
        Assert.Equal("he said \"hi\"", f["s"].Value);
        Assert.All(f.Values, v => Assert.Equal(10, v.Timestamp));
    }

    [Fact]
    public void Series_are_per_database_and_escaped_keys_are_split()
    {
        var live = Live();
        live.Process(Batch("cpu,host=a v=1 1\n"), null!);
        live.Process(Batch("cpu,host=a v=2 1\n", "other"), null!);
        live.Process(Batch("my\\ m,k\\,1=v\\=x v=3 1\n", "other"), null!);
        var all = Take(live);
        Assert.Equal("1", all["metrics:cpu,host=a"].Fields["v"].Value);
        Assert.Equal("2", all["other:cpu,host=a"].Fields["v"].Value);
        var escaped = all.Values.Single(s => s.Measurement == "my m");
        Assert.Equal([new("k,1", "v=x")], escaped.Tags);
        Assert.Equal(3, live.SeriesCount);
    }

    [Fact]
    public void A_series_updated_100_times_is_one_dirty_entry_and_taking_clears_it()
    {
        var live = Live();
        for (var i = 0; i < 100; i++) live.Process(Batch($"cpu,host=a v={i} {i}\ncpu,host=b v={i} {i}\n"), null!);
        Assert.Equal(2, live.DirtyCount);
        var taken = Take(live);
        Assert.Equal(2, taken.Count);
        Assert.Equal("99", taken["metrics:cpu,host=a"].Fields["v"].Value);
        Assert.Equal(0, live.DirtyCount);
        Assert.Empty(Take(live));
        live.Process(Batch("cpu,host=a v=100 100\n"), null!);
        Assert.Single(Take(live));
    }

    [Fact]
    public void Beyond_max_series_new_series_are_counted_not_tracked()
    {
        var live = Live(maxSeries: 3);
        live.Process(Batch(string.Concat(Enumerable.Range(0, 5).Select(i => $"m,id={i} v=1 1\n"))), null!);
        live.Process(Batch("m,id=0 v=2 2\nm,id=9 v=2 2\n"), null!);
        Assert.Equal(3, live.SeriesCount);
        Assert.Equal(3, live.Untracked);
        var taken = Take(live);
        Assert.Equal(3, taken.Count);
        Assert.Equal("2", taken["metrics:m,id=0"].Fields["v"].Value);
    }

    [Fact]
    public void Snapshot_filters_by_measurement_tags_and_fields()
    {
        var live = Live();
        live.Process(Batch("cpu,dc=x,host=a usage=1,idle=2 1\ncpu,dc=y,host=b usage=3 1\nmem,host=a used=4 1\n"), null!);
        Assert.Empty(live.Snapshot(null, [], null)); // nothing published before a flush
        Take(live);

        Assert.Equal(3, live.Snapshot(null, [], null).Count);
        Assert.Equal(["metrics:cpu,dc=x,host=a", "metrics:cpu,dc=y,host=b"], live.Snapshot("cpu", [], null).Select(s => s.Id));
        Assert.Equal(["metrics:cpu,dc=x,host=a", "metrics:mem,host=a"], live.Snapshot(null, [("host", "a")], null).Select(s => s.Id));
        Assert.Equal(["metrics:cpu,dc=x,host=a"], live.Snapshot("cpu", [("host", "a"), ("dc", "x")], null).Select(s => s.Id));
        var idle = Assert.Single(live.Snapshot(null, [], ["idle"]));
        Assert.Equal(["idle"], idle.Fields.Keys);
        Assert.Empty(live.Snapshot("mem", [("host", "b")], null));
    }

    [Fact]
    public void The_snapshot_shows_the_last_flush_not_the_points_since()
    {
        var live = Live();
        live.Process(Batch("cpu,host=a v=1 1\n"), null!);
        Take(live);
        live.Process(Batch("cpu,host=a v=2,w=5 2\n"), null!);

        var before = Assert.Single(live.Snapshot(null, [], null));
        Assert.Equal(["v"], before.Fields.Keys);
        Assert.Equal(new LiveField("1", FieldType.Float, 1), before.Fields["v"]);
        var after = Take(live)["metrics:cpu,host=a"];
        Assert.Equal(new LiveField("2", FieldType.Float, 2), after.Fields["v"]);
        Assert.Equal(new LiveField("5", FieldType.Float, 2), after.Fields["w"]);
        // The copy handed out before the flush is the reader's own: the flush did not change it.
        Assert.Equal("1", before.Fields["v"].Value);
    }

    [Fact]
    public void Stale_series_are_pruned_and_left_out_of_a_full_rewrite()
    {
        long now = 1_000_000;
        var live = new LiveStateTransform(new LiveOptions { Expiry = TimeSpan.FromSeconds(10) }, "metrics") { Clock = () => now };
        live.Process(Batch("a v=1 1\n"), null!);
        now += 6_000;
        live.Process(Batch("b v=1 1\n"), null!);
        Take(live);
        now += 5_000; // a is 11 s old, b 5 s
        var all = new List<LiveWrite>();
        live.AllPublished(now, all);
        Assert.Equal(["metrics:b"], all.Select(s => Text(s.Id)));
        Assert.Equal(1, live.Prune(now));
        Assert.Equal(1, live.SeriesCount);
        Assert.Equal(["metrics:b"], live.Snapshot(null, [], null).Select(s => s.Id));
        live.Process(Batch("a v=2 2\n"), null!); // comes back as a new series
        Assert.Equal("2", Take(live)["metrics:a"].Fields["v"].Value);
    }

    [Fact]
    public void Series_stay_found_after_the_index_grows_and_after_a_prune_rebuilds_it()
    {
        long now = 1_000_000;
        var live = new LiveStateTransform(new LiveOptions { Expiry = TimeSpan.FromSeconds(10) }, "metrics") { Clock = () => now };
        string Body(int from, int to, int value) =>
            string.Concat(Enumerable.Range(from, to - from).Select(i => $"m,host=h{i} v={value} 1\n"));
        // 5 000 series (the index starts at 1 024 places and grows at half full), in two databases.
        live.Process(Batch(Body(0, 2_500, 1)), null!);
        live.Process(Batch(Body(0, 2_500, 1), "other"), null!);
        Assert.Equal(5_000, live.SeriesCount);
        Take(live);
        now += 6_000;
        live.Process(Batch(Body(0, 1_000, 2)), null!); // these stay
        Take(live);
        now += 5_000;
        Assert.Equal(4_000, live.Prune(now));
        Assert.Equal(1_000, live.SeriesCount);
        // Every series kept is found again (the count stays), those pruned come back as new ones.
        live.Process(Batch(Body(0, 1_000, 3)), null!);
        Assert.Equal(1_000, live.SeriesCount);
        live.Process(Batch(Body(1_000, 1_500, 4), "other"), null!);
        Assert.Equal(1_500, live.SeriesCount);
        var taken = Take(live);
        Assert.Equal(1_500, taken.Count);
        Assert.All(Enumerable.Range(0, 1_000), i => Assert.Equal("3", taken[$"metrics:m,host=h{i}"].Fields["v"].Value));
        Assert.All(Enumerable.Range(1_000, 500), i => Assert.Equal("4", taken[$"other:m,host=h{i}"].Fields["v"].Value));
    }

    private static byte[] BufferOf(ReadOnlyMemory<byte> value) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(value, out var segment) ? segment.Array! : throw new InvalidOperationException("not an array");

    [Fact]
    public void A_flush_writes_into_the_buffers_of_the_last_unless_they_were_released()
    {
        var live = Live();
        live.Process(Batch("cpu,host=a v=1.5,s=\"x\" 1\n"), null!);
        var first = new List<LiveWrite>();
        live.TakeDirty(first);
        var buffer = BufferOf(first[0].Fields[0].Value);
        Assert.Equal("1.5", Text(first[0].Fields[0].Value));

        // Taken again: the same write, its value rewritten in place (nothing allocated per series and flush).
        live.Process(Batch("cpu,host=a v=2.25,s=\"y\" 2\n"), null!);
        var second = new List<LiveWrite>();
        live.TakeDirty(second);
        Assert.Same(first[0], second[0]);
        Assert.Equal("2.25", Text(second[0].Fields[0].Value));
        Assert.Same(buffer, BufferOf(second[0].Fields[0].Value));

        // A flush that gave up may have commands in the client still reading these bytes: they stay as they were.
        live.ReleaseBuffers();
        live.Process(Batch("cpu,host=a v=3,s=\"z\" 3\n"), null!);
        var third = new List<LiveWrite>();
        live.TakeDirty(third);
        Assert.Equal("3", Text(third[0].Fields[0].Value));
        Assert.Equal("z", Text(third[0].Fields[1].Value));
        Assert.Equal(3, third[0].Fields[0].Timestamp);
        Assert.NotSame(buffer, BufferOf(third[0].Fields[0].Value));
        Assert.Equal("2.25", Encoding.UTF8.GetString(buffer, 0, 4));
    }

    [Fact]
    public void A_series_that_gains_fields_publishes_all_of_them()
    {
        var live = Live();
        live.Process(Batch("cpu,host=a v=1 1\n"), null!);
        Take(live);
        live.Process(Batch("cpu,host=a w=2i,b=f 2\n"), null!);
        var s = Take(live)["metrics:cpu,host=a"];
        Assert.Equal(["b", "v", "w"], s.Fields.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("false", s.Fields["b"].Value);
        Assert.Equal("2", s.Fields["w"].Value);
        Assert.Equal(new LiveField("1", FieldType.Float, 1), s.Fields["v"]);
    }

    [Fact]
    public void Options_are_read_and_validated()
    {
        static Microsoft.Extensions.Configuration.IConfiguration Config(params (string, string)[] pairs) =>
            new Microsoft.Extensions.Configuration.ConfigurationBuilder()
                .AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Item1, p.Item2))).Build();

        Assert.Equal(new LiveOptions(), LiveOptions.Read(Config()));
        var o = LiveOptions.Read(Config(("Live:FlushInterval", "100ms"), ("Live:Expiry", "0"), ("Live:MaxSeries", "10"), ("Live:Enabled", "false")));
        Assert.Equal(new LiveOptions { FlushInterval = TimeSpan.FromMilliseconds(100), Expiry = TimeSpan.Zero, MaxSeries = 10, Enabled = false }, o);
        Assert.Throws<Ingest.Configuration.ConfigurationError>(() => LiveOptions.Read(Config(("Live:Expiry", "500ms"))));
        Assert.Throws<Ingest.Configuration.ConfigurationError>(() => LiveOptions.Read(Config(("Live:MaxSeries", "0"))));
        Assert.Throws<Ingest.Configuration.ConfigurationError>(() => LiveOptions.Read(Config(("Live:Bogus", "1"))));
    }
}
