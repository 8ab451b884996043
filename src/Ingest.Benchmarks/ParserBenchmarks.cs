using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Ingest.LineProtocol;

namespace Ingest.Benchmarks;

/// <summary>
/// Parsing request bodies into a reused batch: the daemon's per-request hot path. Each operation parses one
/// whole body of <see cref="Lines"/> lines; the MB/s and Mlines/s columns are body size and line count divided
/// by the mean time.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class ParserBenchmarks
{
    public const int Lines = 5_000;

    /// <summary>cpu/mem/disk/net/system lines, 2–4 tags, 3–6 fields of all numeric types (~146 bytes a line).</summary>
    public static readonly byte[] TelegrafMix = TelegrafBody.Create(Lines);

    /// <summary>The target's reference line shape (~100 bytes a line).</summary>
    public static readonly byte[] TypicalCpu = TelegrafBody.CreateTypical(Lines);

    /// <summary>The same lines with their tags out of order, so that every series key is rebuilt.</summary>
    public static readonly byte[] UnsortedTags = TelegrafBody.CreateTypical(Lines, reverseTags: true);

    private readonly LineProtocolParser _parser = new();
    private readonly LineProtocolParser _unsignedAsInteger = new(new ParserOptions { UnsignedAsInteger = true });
    private readonly PointBatch _batch = new();

    [GlobalSetup]
    public void Setup()
    {
        // Grow the batch once so that the measured runs only reuse its buffers.
        foreach (var body in new[] { TelegrafMix, TypicalCpu, UnsortedTags })
        {
            _batch.Clear();
            var summary = _parser.Parse(body, Precision.Nanoseconds, 0, _batch);
            if (summary.Points != Lines) throw new InvalidOperationException($"parsed {summary.Points} of {Lines} lines: {summary.FirstError}");
        }
    }

    [Benchmark(Baseline = true)]
    public int ParseTelegrafMix() => Parse(_parser, TelegrafMix);

    [Benchmark]
    public int ParseTelegrafMix_UnsignedAsInteger() => Parse(_unsignedAsInteger, TelegrafMix);

    [Benchmark]
    public int ParseTypicalCpu() => Parse(_parser, TypicalCpu);

    [Benchmark]
    public int ParseUnsortedTags() => Parse(_parser, UnsortedTags);

    private int Parse(LineProtocolParser parser, byte[] body)
    {
        _batch.Clear();
        return parser.Parse(body, Precision.Nanoseconds, 0, _batch).Points;
    }

    internal static byte[] BodyOf(BenchmarkCase benchmarkCase) => benchmarkCase.Descriptor.WorkloadMethod.Name switch
    {
        nameof(ParseTypicalCpu) => TypicalCpu,
        nameof(ParseUnsortedTags) => UnsortedTags,
        _ => TelegrafMix,
    };

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig()
        {
            AddColumn(new ThroughputColumn("MB/s", c => BodyOf(c).Length, 1e6));
            AddColumn(new ThroughputColumn("Mlines/s", _ => Lines, 1e6));
        }
    }
}
