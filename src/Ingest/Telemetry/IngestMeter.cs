using System.Diagnostics.Metrics;

namespace Ingest.Telemetry;

/// <summary>The daemon's one <see cref="Meter"/>; each component defines its instruments on it.</summary>
public sealed class IngestMeter : IDisposable
{
    public const string Name = "Ingest";

    public IngestMeter(IMeterFactory factory)
    {
        Meter = factory.Create(Name);
    }

    public Meter Meter { get; }

    public void Dispose() => Meter.Dispose();
}
