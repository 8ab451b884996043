using Prometheus;

namespace Ingest.Telemetry.Prometheus.Bridge;

/// <summary>
/// One label set of one instrument, bound to its prometheus-net child. A series can be detached (its child
/// removed from the registry) when an observable callback stops reporting it or the meter goes away; it
/// re-creates its child when it is recorded again.
/// </summary>
internal abstract class Series
{
    /// <summary>Stands in for a label set rejected by the cardinality limit, so its later measurements stay lock-free no-ops.</summary>
    public static readonly Series Dropped = new DroppedSeries();

    /// <summary>Scrape epoch of the last observation; observable series not reported in the current one are detached.</summary>
    public int Epoch;

    /// <summary>Records a value already converted to the Prometheus base unit.</summary>
    public abstract void Record(double value);

    public abstract void Detach();

    private sealed class DroppedSeries : Series
    {
        public override void Record(double value) { }

        public override void Detach() { }
    }
}

/// <summary>A series backed by a child of <typeparamref name="TChild"/>'s metric for fixed label values.</summary>
internal abstract class Series<TMetric, TChild>(TMetric metric, string[] labelValues) : Series
    where TMetric : Collector<TChild>
    where TChild : ChildBase
{
    private TChild? _child;

    /// <summary>The child, created again if it was detached.</summary>
    protected TChild Child => Volatile.Read(ref _child) ?? Attach();

    public override void Detach()
    {
        var child = Interlocked.Exchange(ref _child, null);
        child?.Remove();
    }

    private TChild Attach()
    {
        var child = metric.WithLabels(labelValues);
        return Interlocked.CompareExchange(ref _child, child, null) ?? child;
    }
}

/// <summary>
/// <c>Counter&lt;T&gt;</c>: each measurement is an increment. A negative one would make prometheus-net throw inside
/// the instrument's Add; it breaks the counter contract and is ignored, as is NaN.
/// </summary>
internal sealed class CounterSeries(Counter metric, string[] labelValues) : Series<Counter, Counter.Child>(metric, labelValues)
{
    public override void Record(double value)
    {
        if (value >= 0) Child.Inc(value);
    }
}

/// <summary>
/// <c>ObservableCounter&lt;T&gt;</c>: each observation is the running total. A total below the previous one (the
/// source restarted or the runtime reports a count that falls) becomes a counter reset: the child is replaced,
/// which Prometheus' rate() handles like a process restart.
/// </summary>
internal sealed class ObservedCounterSeries(Counter metric, string[] labelValues) : Series<Counter, Counter.Child>(metric, labelValues)
{
    public override void Record(double value)
    {
        if (double.IsNaN(value)) return;
        var child = Child;
        if (value < child.Value)
        {
            Detach();
            child = Child;
        }
        child.IncTo(value);
    }
}

/// <summary>Up-down counters add their deltas; gauges and observable up-down counters set the value.</summary>
internal sealed class GaugeSeries(Gauge metric, string[] labelValues, bool add) : Series<Gauge, Gauge.Child>(metric, labelValues)
{
    public override void Record(double value)
    {
        if (add) Child.Inc(value);
        else Child.Set(value);
    }
}

/// <summary>Histograms: one observation per measurement; prometheus-net ignores NaN.</summary>
internal sealed class HistogramSeries(Histogram metric, string[] labelValues) : Series<Histogram, Histogram.Child>(metric, labelValues)
{
    public override void Record(double value) => Child.Observe(value);
}
