using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Ingest.Benchmarks;

/// <summary>Turns the mean time per operation into MB/s or lines/s, given the body each operation processes.</summary>
public sealed class ThroughputColumn(string name, Func<BenchmarkCase, double> unitsPerOp, double scale) : IColumn
{
    public string Id => "Throughput." + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"{name} at the mean time per operation";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null) return "NA";
        double seconds = stats.Mean / 1e9;
        return (unitsPerOp(benchmarkCase) / scale / seconds).ToString("N1");
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
