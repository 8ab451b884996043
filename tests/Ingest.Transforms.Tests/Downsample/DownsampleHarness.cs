using System.Globalization;
using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;

namespace Ingest.Transforms.Tests.Downsample;

/// <summary>Feeds line protocol through a <see cref="DownsampleStage"/> and keeps what it wrote, decoded.</summary>
internal sealed class DownsampleHarness
{
    private static readonly LineProtocolParser Parser = new();
    private readonly Action<PointBatch> _collect;

    public DownsampleHarness(params DownsampleTier[] tiers) : this(new DownsampleStage(new DownsampleOptions { Tiers = tiers }))
    {
    }

    /// <summary>Around an existing stage (one read back from a snapshot).</summary>
    public DownsampleHarness(DownsampleStage stage)
    {
        Stage = stage;
        _collect = Collect;
    }

    public DownsampleStage Stage { get; }

    /// <summary>Every line written so far, without LF, in order.</summary>
    public List<string> Lines { get; } = [];

    public List<(string Database, string RetentionPolicy, string Line)> Targets { get; } = [];

    public static long Minutes(double m) => (long)(m * 60_000_000_000L);

    public static DownsampleTier Tier(string name = "1m", double minutes = 1, double latenessMinutes = 0, string aggregates = "mean,min,max,sum,count,first,last", string? source = null) => new()
    {
        Name = name,
        Interval = TimeSpan.FromMinutes(minutes),
        AllowedLateness = TimeSpan.FromMinutes(latenessMinutes),
        Aggregates = aggregates.Split(','),
        Source = source,
    };

    /// <summary>Processes one request body; returns the lines written by this call.</summary>
    public List<string> Process(string body, string database = "db")
    {
        var batch = PointBatch.Rent();
        try
        {
            var summary = Parser.Parse(Encoding.UTF8.GetBytes(body), Precision.Nanoseconds, 0, batch);
            Assert.Equal(0, summary.BadLines);
            batch.Database = database;
            int before = Lines.Count;
            Stage.Process(batch, _collect);
            return Lines.GetRange(before, Lines.Count - before);
        }
        finally
        {
            PointBatch.Return(batch);
        }
    }

    public List<string> Process(PointBatch batch)
    {
        int before = Lines.Count;
        Stage.Process(batch, _collect);
        return Lines.GetRange(before, Lines.Count - before);
    }

    public List<string> Flush()
    {
        int before = Lines.Count;
        Stage.Flush(_collect);
        return Lines.GetRange(before, Lines.Count - before);
    }

    public static string Line(string measurement, string fields, long time) =>
        $"{measurement} {fields} {time.ToString(CultureInfo.InvariantCulture)}\n";

    /// <summary>The decoded point of the only written line whose measurement and timestamp match.</summary>
    public static DecodedPoint Single(IEnumerable<string> lines, string measurement, long time) =>
        Assert.Single(lines.Select(Decode), p => p.Measurement == measurement && p.Timestamp == time);

    public static DecodedPoint Decode(string line) => PointDecoder.DecodeCanonical(Encoding.UTF8.GetBytes(line + "\n"));

    public static double Float(DecodedPoint point, string field)
    {
        var f = Assert.Single(point.Fields, x => x.Key == field);
        return f.Value.Type == FieldType.Integer ? f.Value.Integer : f.Value.Float;
    }

    private void Collect(PointBatch batch)
    {
        for (int i = 0; i < batch.Count; i++)
        {
            string line = Encoding.UTF8.GetString(batch.Line(i)).TrimEnd('\n');
            // The batch index must describe the same bytes a reader would decode.
            Assert.Equal(SeriesKeyHash.Compute(batch.SeriesKey(i)), batch.Points[i].SeriesHash);
            Lines.Add(line);
            Targets.Add((batch.Database, batch.RetentionPolicy, line));
        }
        PointBatch.Return(batch);
    }
}
