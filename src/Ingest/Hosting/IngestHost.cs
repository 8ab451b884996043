using System.Text.Json;
using Akka.Hosting;
using Ingest.Api;
using Ingest.Buffering;
using Ingest.Configuration;
using Ingest.Durability;
using Ingest.Graph;
using Ingest.Health;
using Ingest.LineProtocol;
using Ingest.Sinks.Influx;
using Ingest.Sinks.Redis;
using Ingest.Sources.Http;
using Ingest.Telemetry;
using Ingest.Telemetry.Prometheus;
using Ingest.Transforms.Live;
using Ingest.Transforms.Thresholds;
using Prometheus;

namespace Ingest.Hosting;

/// <summary>Registers the daemon's stages and maps its endpoints; the one place that wires the pipeline.</summary>
public static class IngestHost
{
    /// <param name="layers">The configuration's layers as <see cref="ConfigurationSetup.Apply"/> built them, for reloads;
    /// null: the configuration cannot be reloaded (a host built without them).</param>
    public static WebApplicationBuilder AddIngest(this WebApplicationBuilder builder, IngestOptions options, Reload.ConfigurationLayers? layers = null)
    {
        var services = builder.Services;
        builder.WebHost.ConfigureKestrel(k =>
        {
            // The write endpoints enforce Http:MaxBodySize themselves (after decompression, with an
            // InfluxDB-shaped 413, draining a bounded excess first); Kestrel's limit only stops a client from
            // streaming without end.
            k.Limits.MaxRequestBodySize = options.Http.MaxBodySize * (RequestBody.DrainFactor + 1);
            k.AddServerHeader = false;
        });
        services.Configure<HostOptions>(h =>
        {
            h.ShutdownTimeout = TimeSpan.FromSeconds(30);
            // ServiceFailures stops the host and sets the exit code; stopping here too would log each failure twice.
            h.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore;
        });
        services.AddSingleton<ServiceFailures>();
        services.AddSingleton<ListeningGate>();
        RedactingLoggerFactory.Replace(services, new SecretRedactor([options.Influx.Password, options.Influx.Token, options.Redis.Password]));

        services.AddSingleton(options);
        // First of the hosted services, so that a SIGHUP during the log's replay does not end the daemon.
        services.AddHostedService<ReloadSignal>();
        // Batches waiting in the buffer come back to the pool once delivered; let it keep about what a full
        // buffer holds (~256 B a point with its index), so that a backlog does not turn into large-object garbage.
        PointBatch.PoolLimitBytes = Math.Max(64L << 20, options.Buffer.Capacity * 256);
        services.AddSingleton(options.Influx);
        services.AddSingleton<IngestMeter>();
        services.AddSingleton<IPointBuffer>(new MemoryPointBuffer(options.Buffer.Capacity));
        services.AddSingleton(new LineProtocolParser(new ParserOptions { UnsignedAsInteger = options.Influx.ApiVersion == 1 }));
        services.AddSingleton(new WriteCredentials(options.Auth));
        RateLimits.Add(services);
        services.AddSingleton(new BodyBudget(options.Http.BodyBytesInFlight));
        services.AddHostedService<BodyMemoryReclaimer>();
        services.AddSingleton<WriteTelemetry>();
        services.AddSingleton<Ingest.Admission.InfluxSchema>();
        services.AddSingleton(sp => sp.GetRequiredService<IngestGraph>().Admission);
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<WriteEndpoints>(sp, sp.GetRequiredService<IngestGraph>().HttpSource));
        // Per request, as the typed InfluxClient it uses is.
        services.AddTransient<Ingest.Sources.Http.Query.QueryEndpoint>();
        services.AddTransient<Ingest.Sources.Http.Query.BucketsEndpoint>();

        services.AddHttpClient<InfluxClient>(c => c.Timeout = options.Influx.Timeout)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                MaxConnectionsPerServer = options.Influx.MaxConcurrentRequests + 1,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                AutomaticDecompression = System.Net.DecompressionMethods.All,
            });
        services.AddSingleton<SinkInstruments>();
        services.AddSingleton<PipelineTelemetry>();
        services.AddSingleton<Ingest.Durability.DurableLog>();
        services.AddSingleton(options.DeadLetter);
        services.AddSingleton<Ingest.Sinks.DeadLetter.DeadLetterStore>();
        services.AddSingleton(options.Live);
        services.AddSingleton(options.Feed);
        services.AddSingleton<Ingest.Sinks.Feed.FeedHub>();
        services.AddSingleton<IngestGraph>();
        // The graph's parts that other components use, each by itself; the optional ones are null when off.
        services.AddSingleton(sp => sp.GetRequiredService<IngestGraph>().Alerts!);
        services.AddSingleton(sp => sp.GetRequiredService<IngestGraph>().Live!);
        services.AddKeyedSingleton(InfluxSink.RawName, (sp, _) => sp.GetRequiredService<IngestGraph>().RawSink);
        services.AddSingleton<AlertTelemetry>();
        // Stopped in reverse order: the pipeline drains first, then the alert store saves the final states.
        services.AddSingleton<AlertStateStore>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertStateStore>());
        services.AddSingleton<Ingest.Sinks.Redis.LiveStateWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<Ingest.Sinks.Redis.LiveStateWriter>());
        services.AddHostedService<Ingest.Sinks.Redis.StatusPublisher>();
        // The actor system the stream graph runs on: started before the pipeline, stopped after it has drained. The
        // host's stop drives its shutdown; left to its own process-exit hook it would end on SIGTERM at once,
        // under the graph that is still draining.
        services.AddAkka("ingest", (akka, _) => akka
            .AddHocon("""
                akka.stdout-loglevel = OFF
                akka.log-dead-letters = off
                akka.log-dead-letters-during-shutdown = off
                akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
                # The scheduler wakes every tick, work or not: at the default 10 ms an idle daemon spent 2-3 % of a
                # core on it, 1 % at 50 ms. Its timers (source batches, the sinks' batch intervals) are 100 ms and
                # longer by default, so they may end up to a tick late.
                akka.scheduler.tick-duration = 50ms
                """, HoconAddMode.Prepend)
            .ConfigureLoggers(loggers =>
            {
                loggers.LogLevel = Akka.Event.LogLevel.WarningLevel;
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            }));
        services.AddHostedService<PipelineService>();
        // After the pipeline, so stopped before it: what the sources took drains with the rest.
        services.AddSingleton<Ingest.Sources.SourceInstruments>();
        services.AddSingleton<Ingest.Sources.SourceRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<Ingest.Sources.SourceRunner>());
        if (layers is not null)
        {
            services.AddSingleton(layers);
            services.AddSingleton<Reload.ConfigReloader>();
        }
        services.AddSingleton<RateSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<RateSampler>());

        services.AddSingleton<RedisConnection>();
        services.AddSingleton<ReadinessState>();
        services.AddHostedService<DependencyProbe>();
        services.AddSingleton<BufferTelemetry>();

        // A registry of our own: prometheus-net's default one would also start its MeterAdapter and
        // EventCounterAdapter, publishing the same instruments a second time under other names.
        var bridgeOptions = new MeterBridgeOptions();
        foreach (var meter in ExportedMeters) bridgeOptions.MeterNames.Add(meter);
        services.AddSingleton(_ => new MeterBridge(bridgeOptions, Metrics.NewCustomRegistry()));
        SystemdIntegration.Add(builder);
        return builder;
    }

    public static WebApplication UseIngest(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IngestOptions>();
        // Opened (and recovered) now, so that a log that cannot be used stops the start with its reason.
        app.Services.GetRequiredService<Ingest.Durability.DurableLog>();
        app.Services.GetRequiredService<Ingest.Sinks.DeadLetter.DeadLetterStore>();
        app.Services.GetRequiredService<BufferTelemetry>();
        app.Services.GetRequiredService<AlertTelemetry>();
        app.Services.GetRequiredService<Ingest.Sinks.Redis.LiveStateWriter>();
        // Its metrics count from the start: ingest_config_reloads_total is 0, not absent, until the first reload.
        app.Services.GetService<Reload.ConfigReloader>();
        // The bridge's listener must exist before the first request so that ASP.NET Core's and the runtime's
        // instruments are counted from the start.
        var bridge = app.Services.GetRequiredService<MeterBridge>();
        // First of all: nothing is served until the bound addresses have been checked (see Exposure).
        var gate = app.Services.GetRequiredService<ListeningGate>();
        app.Use((context, next) => gate.IsOpen ? next(context) : gate.Refuse(context));
        app.Use((context, next) =>
        {
            // Every answer names itself as InfluxDB-compatible and carries a request id, as InfluxDB's do.
            var headers = context.Response.Headers;
            headers["X-Influxdb-Version"] = options.Http.InfluxVersionHeader;
            headers["X-Influxdb-Build"] = "OSS";
            var id = Guid.NewGuid().ToString();
            headers["Request-Id"] = id;
            headers["X-Request-Id"] = id;
            return next(context);
        });

        RateLimits.Use(app);
        // After routing: the files answer only paths no endpoint took; after the limiter, which counts them too.
        StatusPage.Use(app);
        var graph = app.Services.GetRequiredService<IngestGraph>();
        var feed = app.Services.GetRequiredService<Ingest.Sinks.Feed.FeedHub>();
        feed.AlertsSnapshot = () => graph.Alerts?.RunExclusive(() => graph.Alerts.Check.Engine.ActiveAlerts) ?? [];
        feed.DatabaseOf = options.Influx.DatabaseOf;
        if (graph.Live is { } live) feed.PointsSnapshot = (sub, token) => Ingest.Api.LiveEndpoints.Points(live, sub, token, options.Influx);
        Ingest.Sinks.Feed.FeedEndpoint.Map(app, options.Feed);
        Ingest.Sinks.Feed.FeedStreamEndpoint.Map(app, options.Feed);
        WriteEndpoints.Map(app);
        Ingest.Sources.Http.Query.QueryEndpoint.Map(app);
        Ingest.Sources.Http.Query.BucketsEndpoint.Map(app);
        PipelineEndpoints.Map(app);
        Reload.ReloadEndpoint.Map(app);
        Ingest.Api.HistoryEndpoint.Map(app);
        Ingest.Api.LiveEndpoints.Map(app);
        // Text format 0.0.4 by default; OpenMetrics (with exemplars) when the scraper's Accept header asks for it.
        var metrics = app.MapMetrics(s => s.Registry = bridge.Registry, "/metrics").ForMonitoring();
        // Read per request, so that a reload turning Auth:ProtectMetrics (or auth itself) on or off applies at once.
        metrics.AddEndpointFilter(async (context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<WriteCredentials>() is { Options: { Enabled: true, ProtectMetrics: true } } credentials
                ? credentials.Check(context.HttpContext, Scopes.Read) ?? await next(context)
                : await next(context));
        app.MapGet("/health", () => Results.Json(new { status = "pass", name = "ingest", message = "alive" })).ForMonitoring();
        app.MapGet("/ready", (ReadinessState r) => Results.Json(new
        {
            status = r.Status,
            dependencies = r.All.ToDictionary(d => d.Name, d => new
            {
                status = d.State.Status,
                endpoint = d.Endpoint,
                required = d.Required,
                error = d.State.Error,
                detail = d.State.Detail,
                lastUp = d.State.LastUp,
            }),
        }, JsonOptions, statusCode: r.IsReady ? 200 : 503)).ForMonitoring();
        return app;
    }

    /// <summary>The meters whose instruments <c>/metrics</c> exports.</summary>
    public static readonly string[] ExportedMeters =
    [
        IngestMeter.Name,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.Http",
        "System.Runtime",
    ];

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
