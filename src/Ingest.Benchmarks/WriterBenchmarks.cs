using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Ingest.LineProtocol;

namespace Ingest.Benchmarks;

/// <summary>Writing points with <see cref="LineProtocolWriter"/> (as the downsampler and tools do).</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class WriterBenchmarks
{
    public const int Points = 1_000;
    private DecodedPoint[] _points = [];
    private readonly PointBatch _output = new();

    [GlobalSetup]
    public void Setup()
    {
        var batch = new PointBatch();
        new LineProtocolParser().Parse(TelegrafBody.Create(Points, seed: 7), Precision.Nanoseconds, 0, batch);
        _points = PointDecoder.DecodeAll(batch).ToArray();
        WritePoints();
    }

    [Benchmark]
    public int WritePoints()
    {
        _output.Clear();
        foreach (var point in _points) LineProtocolWriter.WritePoint(_output, point);
        return _output.ByteLength;
    }

    [Benchmark]
    public int WriteFieldsOnly()
    {
        _output.Clear();
        foreach (var point in _points)
        {
            var fields = point.Fields;
            for (int i = 0; i < fields.Count; i++)
            {
                var field = fields[i];
                LineProtocolWriter.WriteFieldKey(_output, field.Key);
                LineProtocolWriter.WriteByte(_output, (byte)'=');
                LineProtocolWriter.WriteFieldValue(_output, field.Value);
            }
        }
        return _output.ByteLength;
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new ThroughputColumn("Mpoints/s", _ => Points, 1e6));
    }
}
