using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Ingest.Admission;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Benchmarks;

/// <summary>
/// The parser-to-admission path with and without the schema check (<see cref="InfluxSchema"/>): one body of
/// <see cref="ParserBenchmarks.Lines"/> Telegraf-shaped lines parsed into a reused batch, then checked against a
/// learned schema, as a write to a database InfluxDB has described takes it. The ratio of the two is the check's
/// cost; the allocated column must not grow with the points.
/// </summary>
[MemoryDiagnoser]
public class SchemaCheckBenchmarks
{
    private readonly LineProtocolParser _parser = new(new ParserOptions { UnsignedAsInteger = true });
    private readonly PointBatch _batch = new();
    private InfluxSchema _schema = null!;

    [GlobalSetup]
    public void Setup()
    {
        // InfluxDB's answers for a database with its default policy and no fields yet: the first body teaches them.
        _schema = new InfluxSchema(new InfluxOptions(), (_, query, _) => Task.FromResult<(JsonDocument?, int, string?)>((JsonDocument.Parse(
            query.StartsWith("SHOW RETENTION", StringComparison.Ordinal)
                ? """{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true]]}]}]}"""
                : """{"results":[{"statement_id":0}]}"""), 200, null)), TimeProvider.System, NullLogger.Instance);
        if (ParseAndCheck() != ParserBenchmarks.Lines) throw new InvalidOperationException("the check dropped points of the benchmark body");
    }

    [Benchmark(Baseline = true)]
    public int ParseOnly()
    {
        Parse();
        return _batch.Count;
    }

    [Benchmark]
    public int ParseAndCheck()
    {
        Parse();
        var verdict = _schema.CheckAsync(_batch, CancellationToken.None);
        if (!verdict.IsCompletedSuccessfully) verdict.AsTask().GetAwaiter().GetResult();
        return _batch.Count;
    }

    private void Parse()
    {
        _batch.Clear();
        _batch.Database = "bench";
        _parser.Parse(ParserBenchmarks.TelegrafMix, Precision.Nanoseconds, 0, _batch);
    }
}
