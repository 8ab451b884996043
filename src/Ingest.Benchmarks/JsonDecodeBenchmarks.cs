using System.Text;
using BenchmarkDotNet.Attributes;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sources;
using Ingest.Sources.Decoding;
using Microsoft.Extensions.Configuration;

namespace Ingest.Benchmarks;

/// <summary>
/// Decoding JSON source messages of one point each into a reused batch: a source's per-message hot path. The
/// daemon must take at least 100 000 such messages a second, so one decode must stay well under 10 µs; the
/// allocated column is per message.
/// </summary>
[MemoryDiagnoser]
public class JsonDecodeBenchmarks
{
    private static readonly byte[] Message = Encoding.UTF8.GetBytes("""{"host":"a","temp":21.5,"ts":1700000000000}""");

    private IPayloadDecoder _simplePaths = null!;
    private IPayloadDecoder _withSourceTags = null!;
    private IPayloadDecoder _jmesPath = null!;
    private readonly PointBatch _batch = new();
    private readonly LineProtocolParser _parser = new();

    [GlobalSetup]
    public void Setup()
    {
        var simple = Mapping(("Json:Fields:temp", "temp"), ("Json:Tags:host", "host"));
        _simplePaths = PayloadDecoders.Create(simple, new Dictionary<string, string>(), _parser);
        _withSourceTags = PayloadDecoders.Create(simple, new Dictionary<string, string> { ["dc"] = "eu1", ["role"] = "edge" }, _parser);
        // The same fields through JmesPath.Net: what a mapping pays for an expression that is not a simple path.
        _jmesPath = PayloadDecoders.Create(Mapping(("Json:Fields:temp", "to_number(temp)"), ("Json:Tags:host", "host")), new Dictionary<string, string>(), _parser);
        foreach (var decoder in new[] { _simplePaths, _withSourceTags, _jmesPath })
        {
            var result = decoder.Decode(new SourceMessage(Message, 0), _batch);
            if (result.Points != 1) throw new InvalidOperationException($"decoded {result.Points} points: {result.FirstError}");
            _batch.Clear();
        }
    }

    private static PayloadOptions Mapping(params (string Key, string Value)[] pairs)
    {
        var values = new Dictionary<string, string?>
        {
            ["Sources:b:Format"] = "json",
            ["Sources:b:Json:Measurement"] = "weather",
            ["Sources:b:Json:Time"] = "ts",
            ["Sources:b:Json:TimeFormat"] = "unix_ms",
        };
        foreach (var (k, v) in pairs) values["Sources:b:" + k] = v;
        return PayloadOptions.Read(new SectionReader(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), "Sources:b"));
    }

    [Benchmark(Baseline = true)]
    public int JsonSimplePaths() => Decode(_simplePaths);

    [Benchmark]
    public int JsonSimplePathsWithSourceTags() => Decode(_withSourceTags);

    [Benchmark]
    public int JsonThroughJmesPath() => Decode(_jmesPath);

    private int Decode(IPayloadDecoder decoder)
    {
        _batch.Clear();
        return decoder.Decode(new SourceMessage(Message, 1_700_000_000_000_000_000), _batch).Points;
    }
}
