using System.Diagnostics.Metrics;
using Ingest.Telemetry;

namespace Ingest.Transforms.Thresholds;

/// <summary><c>ingest_alerts{rule,level}</c>: active alerts per rule and level, 0 included, so that a dashboard can graph them.</summary>
public sealed class AlertTelemetry
{
    private static readonly string[] Levels = ["warn", "crit", "nodata"];

    /// <param name="alerts">The threshold check; null when no rule is configured (then there is no gauge).</param>
    public AlertTelemetry(IngestMeter meter, AlertPath? alerts)
    {
        if (alerts is null) return;
        var thresholds = alerts.Check;
        meter.Meter.CreateObservableGauge("ingest.alerts", () =>
        {
            var active = alerts.RunExclusive(() => thresholds.Engine.ActiveAlerts)
                .GroupBy(a => (a.Rule, Level: a.Level.ToString().ToLowerInvariant()))
                .ToDictionary(g => g.Key, g => g.Count());
            return thresholds.Engine.Rules.SelectMany(r => Levels.Select(level =>
                new Measurement<int>(active.GetValueOrDefault((r.Name, level)), new("rule", r.Name), new("level", level))));
        }, "{alert}", "Active alerts by rule and level.");
    }
}
