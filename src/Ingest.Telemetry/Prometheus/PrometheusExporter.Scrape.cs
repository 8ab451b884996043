using System.Buffers;
using Ingest.Telemetry.Prometheus.Aggregation;
using Ingest.Telemetry.Prometheus.Text;

namespace Ingest.Telemetry.Prometheus;

public sealed partial class PrometheusExporter
{
    private readonly SemaphoreSlim _scrapeGate = new(1, 1);
    private readonly ArrayBufferWriter<byte> _streamBuffer = new(64 * 1024);
    private FamilyPlan[] _plan = [];
    private int _planVersion = -1;

    /// <summary>Runs the observable callbacks, then appends the whole exposition to <paramref name="output"/>.</summary>
    public void Write(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        ObjectDisposedException.ThrowIf(_disposed, this);
        _scrapeGate.Wait();
        try
        {
            WriteCore(output);
        }
        finally
        {
            _scrapeGate.Release();
        }
    }

    /// <summary>Like <see cref="Write"/>, rendered into a reused buffer and then copied to <paramref name="destination"/>.</summary>
    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _scrapeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _streamBuffer.ResetWrittenCount();
            WriteCore(_streamBuffer);
            await destination.WriteAsync(_streamBuffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _scrapeGate.Release();
        }
    }

    private void WriteCore(IBufferWriter<byte> output)
    {
        int epoch = Interlocked.Increment(ref _counters.Epoch);
        try
        {
            _listener.RecordObservableInstruments();
        }
        catch (Exception)
        {
            // One failing observable callback must not cost the scrape of every other metric;
            // its series are simply absent this time (their epoch is stale).
        }

        var writer = new ExpositionWriter(output);
        foreach (var family in CurrentPlan())
        {
            if (family.State is null) WriteDroppedSeriesFamily(writer, family);
            else SampleWriter.WriteFamily(writer, family, epoch);
        }
    }

    private void WriteDroppedSeriesFamily(ExpositionWriter writer, FamilyPlan family)
    {
        writer.Write(family.Header);
        writer.Write(family.SampleName);
        writer.Write((byte)' ');
        writer.WriteLong(DroppedSeries);
        writer.Write((byte)'\n');
    }

    private FamilyPlan[] CurrentPlan()
    {
        InstrumentState[] states;
        lock (_instrumentsGate)
        {
            if (_planVersion == _instrumentsVersion) return _plan;
            _planVersion = _instrumentsVersion;
            states = _instruments.ToArray();
        }
        _plan = FamilyPlan.Build(states);
        return _plan;
    }
}
