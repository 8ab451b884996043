using System.Buffers;
using System.Text;
using Ingest.Telemetry.Prometheus.Aggregation;
using Ingest.Telemetry.Prometheus.Naming;
using Ingest.Telemetry.Prometheus.Text;

namespace Ingest.Telemetry.Prometheus;

/// <summary>
/// One metric family as it will be written: the resolved name and every constant byte sequence of its
/// lines, encoded once per change of the instrument set rather than once per scrape.
/// </summary>
internal sealed class FamilyPlan
{
    /// <summary>The exporter's own counter of label sets rejected by the cardinality limit.</summary>
    public const string DroppedSeriesName = "ingest_telemetry_series_dropped_total";

    private FamilyPlan(string name, string help, PrometheusType type, InstrumentState? state)
    {
        Name = name;
        State = state;
        Header = Encoding.UTF8.GetBytes($"# HELP {name} {TextEscaping.Help(help)}\n# TYPE {name} {type.Keyword()}\n");
        SampleName = Encoding.UTF8.GetBytes(name);
        if (type != PrometheusType.Histogram) return;
        BucketName = Encoding.UTF8.GetBytes(name + "_bucket{");
        SumName = Encoding.UTF8.GetBytes(name + "_sum");
        CountName = Encoding.UTF8.GetBytes(name + "_count");
        LeLabels = state!.ExportedBounds.Select(EncodeLe).Append(Encoding.UTF8.GetBytes("le=\"+Inf\"}")).ToArray();
    }

    public string Name { get; }

    /// <summary>Null for the exporter's own dropped-series counter.</summary>
    public InstrumentState? State { get; }

    public byte[] Header { get; }

    public byte[] SampleName { get; }

    public byte[] BucketName { get; } = [];

    public byte[] SumName { get; } = [];

    public byte[] CountName { get; } = [];

    /// <summary><c>le="…"}</c> per bucket, the last one being +Inf.</summary>
    public byte[][] LeLabels { get; } = [];

    /// <summary>
    /// Families sorted by name. Instruments that map to the same name are ordered by Prometheus type
    /// (counter, gauge, histogram), then meter name, instrument name, meter version and registration order;
    /// the first keeps the name and the others get the first free "_2", "_3"… (<see cref="MetricName.WithOrdinal"/>).
    /// A name that some instrument asked for is never handed out as a disambiguated name.
    /// </summary>
    public static FamilyPlan[] Build(IReadOnlyList<InstrumentState> states)
    {
        var ordered = states
            .OrderBy(s => s.Name.Name, StringComparer.Ordinal)
            .ThenBy(s => s.Name.Type)
            .ThenBy(s => s.Instrument.Meter.Name, StringComparer.Ordinal)
            .ThenBy(s => s.Instrument.Name, StringComparer.Ordinal)
            .ThenBy(s => s.Instrument.Meter.Version ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(s => s.Sequence)
            .ToArray();
        var requested = new HashSet<string>(ordered.Select(s => s.Name.Name), StringComparer.Ordinal) { DroppedSeriesName };
        var used = new HashSet<string>(StringComparer.Ordinal) { DroppedSeriesName };
        var plans = new List<FamilyPlan>(ordered.Length + 1)
        {
            new(DroppedSeriesName,
                "Label sets not tracked because an instrument reached the exporter's per-instrument series limit.",
                PrometheusType.Counter, null),
        };
        foreach (var state in ordered)
        {
            string name = state.Name.Name;
            if (!used.Add(name))
            {
                for (int ordinal = 2; ; ordinal++)
                {
                    string candidate = state.Name.WithOrdinal(ordinal);
                    if (!requested.Contains(candidate) && used.Add(candidate))
                    {
                        name = candidate;
                        break;
                    }
                }
            }
            plans.Add(new FamilyPlan(name, HelpFor(state), state.Name.Type, state));
        }
        plans.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return plans.ToArray();
    }

    /// <summary>promtool requires HELP, so an instrument without a description gets a generated one.</summary>
    private static string HelpFor(InstrumentState state)
    {
        var instrument = state.Instrument;
        if (!string.IsNullOrWhiteSpace(instrument.Description)) return instrument.Description;
        string unit = string.IsNullOrWhiteSpace(instrument.Unit) ? string.Empty : $" (unit {instrument.Unit})";
        return $"Instrument {instrument.Name}{unit} of meter {instrument.Meter.Name}.";
    }

    private static byte[] EncodeLe(double bound)
    {
        var buffer = new ArrayBufferWriter<byte>(48);
        var writer = new ExpositionWriter(buffer);
        writer.Write("le=\""u8);
        writer.WriteDouble(bound);
        writer.Write("\"}"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
