using Ingest.Configuration;

namespace Ingest.Health;

/// <summary>
/// What <c>/ready</c> reports. Not ready until InfluxDB has been reached once (a daemon that cannot deliver
/// should not be put behind a load balancer); afterwards an outage makes it "degraded" but still ready,
/// because writes are buffered and acknowledged through it. Redis never gates readiness.
/// </summary>
public sealed class ReadinessState
{
    public ReadinessState(IngestOptions options)
    {
        // /ready is open to anyone and these appear in logs: no user info, no password.
        var influx = new UriBuilder(options.Influx.Url) { UserName = "", Password = "" }.Uri.ToString();
        Influx = new DependencyHealth("influxdb", influx, required: true);
        Redis = options.Redis.Enabled ? new DependencyHealth("redis", options.Redis.Endpoints, required: false) : null;
    }

    public DependencyHealth Influx { get; }
    public DependencyHealth? Redis { get; }

    public IEnumerable<DependencyHealth> All => Redis is null ? [Influx] : [Influx, Redis];

    public bool IsReady => All.Where(d => d.Required).All(d => d.EverUp);

    public string Status => !IsReady ? "not_ready" : All.All(d => d.State.Status == "up") ? "ready" : "degraded";
}
