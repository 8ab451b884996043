using FsCheck;
using FsCheck.Fluent;
using Ingest.Transforms.Downsample;

namespace Ingest.Transforms.Tests.Downsample;

public class LogSketchTests
{
    private static readonly double[] Percentiles = [1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

    /// <summary>InfluxQL percentile(): the value at index int(n·p/100 + 0.5) - 1 of the sorted values.</summary>
    private static double InfluxPercentile(double[] sorted, double p)
    {
        int i = (int)(sorted.Length * p / 100.0 + 0.5) - 1;
        return sorted[Math.Clamp(i, 0, sorted.Length - 1)];
    }

    private static void AssertWithinBound(double[] values, LogSketch sketch)
    {
        var sorted = values.Order().ToArray();
        foreach (double p in Percentiles)
        {
            double truth = InfluxPercentile(sorted, p);
            double estimate = sketch.ValueAtRank(LogSketch.PercentileRank(sorted.Length, p));
            Assert.True(Math.Abs(estimate - truth) <= LogSketch.RelativeError * Math.Abs(truth),
                $"p{p}: estimate {estimate}, true {truth} (n={sorted.Length})");
        }
    }

    [Fact]
    public void Every_percentile_is_within_one_percent_of_influxql_nearest_rank_for_random_data()
    {
        // Magnitudes from 1e-6 to 1e10 (inside the span the bound covers), both signs, some zeros.
        var value = Gen.Choose(-6000, 10000).Zip(Gen.Choose(0, 9), (e, k) => k == 0 ? 0.0 : (k < 4 ? -1 : 1) * Math.Pow(10, e / 1000.0));
        var gen = value.ArrayOf().Where(a => a.Length > 0);
        Prop.ForAll(gen.ToArbitrary(), values =>
        {
            var sketch = new LogSketch();
            foreach (var v in values) sketch.Add(v);
            AssertWithinBound(values, sketch);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Merged_sketches_keep_the_bound_for_the_union(int seed)
    {
        var random = new Random(seed);
        var parts = Enumerable.Range(0, 10).Select(_ => Enumerable.Range(0, random.Next(1, 500))
            .Select(_ => random.Next(3) == 0 ? 0.0 : (random.NextDouble() - 0.3) * Math.Pow(10, random.Next(-5, 8))).ToArray()).ToArray();
        var merged = new LogSketch();
        foreach (var part in parts)
        {
            var sketch = new LogSketch();
            foreach (var v in part) sketch.Add(v);
            merged.Merge(sketch);
        }
        AssertWithinBound(parts.SelectMany(p => p).ToArray(), merged);
    }

    [Fact]
    public void Values_at_bucket_boundaries_stay_within_the_bound()
    {
        // Powers of the bucket base are where a rounded logarithm could pick the neighbouring bucket.
        double gamma = 1.0099 / 0.9901;
        var values = Enumerable.Range(-400, 800).Select(i => Math.Pow(gamma, i)).ToArray();
        foreach (var v in values)
        {
            var sketch = new LogSketch();
            sketch.Add(v);
            double estimate = sketch.ValueAtRank(0);
            Assert.True(Math.Abs(estimate - v) <= LogSketch.RelativeError * v, $"{v} -> {estimate}");
        }
    }

    [Fact]
    public void Bucket_count_stays_bounded_for_data_spanning_every_magnitude()
    {
        var sketch = new LogSketch();
        for (int e = -300; e <= 300; e++) sketch.Add(Math.Pow(10, e));
        Assert.True(sketch.EstimatedBytes <= 64 + 2 * (16 + 2 * 4096 * sizeof(long)), $"{sketch.EstimatedBytes} bytes");
        // The largest values are never collapsed.
        Assert.Equal(1e300, sketch.ValueAtRank(600), 1e300 * LogSketch.RelativeError);
        Assert.Equal(601, sketch.Count);
    }

    [Fact]
    public void Zero_and_negative_values_are_ranked_in_order()
    {
        var sketch = new LogSketch();
        foreach (var v in new[] { 5.0, -3, 0, -100, 2 }) sketch.Add(v);
        double[] expected = [-100, -3, 0, 2, 5];
        for (int r = 0; r < 5; r++) Assert.Equal(expected[r], sketch.ValueAtRank(r), Math.Abs(expected[r]) * 0.01);
    }
}
