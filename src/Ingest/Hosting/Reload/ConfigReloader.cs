using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Sources;
using Ingest.Sources.Http;
using Ingest.Telemetry;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;

namespace Ingest.Hosting.Reload;

/// <summary>
/// Reads the configuration again while the daemon runs (SIGHUP, <c>POST /api/config/reload</c>) and rebuilds only
/// what changed:
/// <list type="bullet">
/// <item>tokens, scopes, grants, rate limits and the rest of <c>Auth</c>: at once, for the next request;</item>
/// <item>log levels (<c>Logging</c>): at once;</item>
/// <item><c>Live:FlushInterval</c>, <c>Live:Expiry</c>, <c>Live:MaxSeries</c>: at once;</item>
/// <item>threshold rules: the check's engine is replaced between two batches and an unchanged rule keeps every
/// series' state (<see cref="Transforms.Thresholds.ThresholdTransform.Reconfigure"/>);</item>
/// <item>downsampling tiers: replaced between two batches, an unchanged tier keeping its windows exactly and a
/// removed or changed one writing its open windows first (<see cref="Transforms.Downsample.DownsampleTransform.Reconfigure"/>);</item>
/// <item>sources: each changed one is restarted alone (<see cref="SourceRunner.ApplyAsync"/>).</item>
/// </list>
/// Every other key needs a restart: a changed one is reported as such in the answer, the log and <c>/api/status</c>,
/// and the rest still applies. A configuration that does not load is refused whole, with the key and value named;
/// the running one stays.
/// </summary>
public sealed partial class ConfigReloader
{
    /// <summary>Longest a reload waits for a snapshot of the windows in progress before giving up on the tiers.</summary>
    private static readonly TimeSpan SnapshotWait = TimeSpan.FromSeconds(30);

    private readonly ConfigurationLayers _layers;
    private readonly IngestGraph _graph;
    private readonly WriteCredentials _credentials;
    private readonly SourceRunner _sources;
    private readonly Sinks.Feed.FeedHub _feed;
    private readonly IServer _server;
    private readonly ILogger<ConfigReloader> _logger;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly IReadOnlyDictionary<string, string> _startup;
    private IReadOnlyDictionary<string, string> _applied;
    private IngestOptions _options;
    private long _succeeded, _failed;
    private DateTimeOffset _lastSuccess;

    public ConfigReloader(ConfigurationLayers layers, IngestOptions options, IngestGraph graph, WriteCredentials credentials, SourceRunner sources,
        Sinks.Feed.FeedHub feed, IServer server, IngestMeter meter, ILogger<ConfigReloader> logger)
    {
        _feed = feed;
        _layers = layers;
        _options = options;
        _graph = graph;
        _credentials = credentials;
        _sources = sources;
        _server = server;
        _logger = logger;
        _startup = _applied = Flatten(layers.Manager);
        LoadedAt = _lastSuccess = DateTimeOffset.UtcNow;
        var m = meter.Meter;
        m.CreateObservableCounter("ingest.config.reloads", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _succeeded), new KeyValuePair<string, object?>("result", "success")),
            new Measurement<long>(Interlocked.Read(ref _failed), new KeyValuePair<string, object?>("result", "failure")),
        }, "{reload}", "Configuration reloads (SIGHUP, POST /api/config/reload), by result: success (applied, maybe with keys that wait for a restart) or failure (refused whole).");
        m.CreateObservableGauge("ingest.config.last.reload.successful", () => Last is { Succeeded: false } ? 0 : 1, "",
            "1 when the last configuration reload was applied (or none was asked for since start), 0 when it was refused.");
        m.CreateObservableGauge("ingest.config.last.reload.success.timestamp", () => _lastSuccess.ToUnixTimeMilliseconds() / 1000.0, "s",
            "When the configuration was last loaded with success (start or reload), unix seconds.");
    }

    /// <summary>The configuration file reloads read (null: none; then only the environment and command line count).</summary>
    public string? File => _layers.File;

    /// <summary>When the daemon started with its configuration.</summary>
    public DateTimeOffset LoadedAt { get; }

    /// <summary>The last reload, applied or refused; null before the first.</summary>
    public ReloadReport? Last { get; private set; }

    /// <summary>Reloads since start, by result.</summary>
    public (long Succeeded, long Failed) Counts => (Interlocked.Read(ref _succeeded), Interlocked.Read(ref _failed));

    /// <summary>
    /// Reads the configuration again and applies what changed; one reload at a time (a second one waits for the
    /// first). Never throws for a bad configuration: the report says why it was refused.
    /// </summary>
    /// <param name="trigger">What asked for it, for the report: <c>signal</c>, <c>api</c>.</param>
    public async Task<ReloadReport> ReloadAsync(string trigger, CancellationToken cancellationToken = default)
    {
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        var at = DateTimeOffset.UtcNow;
        try
        {
            ReloadReport report;
            try
            {
                var (applied, restart, compared) = await ApplyAsync(cancellationToken).ConfigureAwait(false);
                // After the levels the reload itself may have changed, before its Information line.
                LogCompared(trigger, compared);
                report = new ReloadReport(at, trigger, true, null, applied, restart, Stopwatch.GetElapsedTime(started).TotalSeconds);
                Interlocked.Increment(ref _succeeded);
                _lastSuccess = at;
                LogReloaded(trigger, applied.Count == 0 ? "nothing that applies at once changed" : string.Join("; ", applied),
                    restart.Count == 0 ? "none" : string.Join(", ", restart));
            }
            catch (ConfigurationError e)
            {
                report = new ReloadReport(at, trigger, false, e.Message, [], [], Stopwatch.GetElapsedTime(started).TotalSeconds);
                Interlocked.Increment(ref _failed);
                LogRefused(trigger, e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A part that failed to apply (a bug, a snapshot that would not finish): what applied before it stays.
                report = new ReloadReport(at, trigger, false, $"applying the configuration failed: {e.GetType().Name}: {e.Message}", [], [],
                    Stopwatch.GetElapsedTime(started).TotalSeconds);
                Interlocked.Increment(ref _failed);
                LogApplyFailed(trigger, e);
            }
            Last = report;
            return report;
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<(IReadOnlyList<string> Applied, IReadOnlyList<string> Restart, int Compared)> ApplyAsync(CancellationToken cancellationToken)
    {
        // Everything is read and checked before anything is applied: a bad key refuses the whole reload.
        IngestOptions next;
        IReadOnlyDictionary<string, string> flat;
        var candidate = ConfigurationSetup.Rebuild(_layers);
        try
        {
            next = IngestOptionsLoader.Load(candidate);
            Exposure.CheckConfigured(next.Auth, candidate);
            var addresses = _server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            if (Exposure.CheckBound(next.Auth, addresses, candidate) is { } exposed) throw exposed;
            flat = Flatten(candidate);
        }
        finally
        {
            (candidate as IDisposable)?.Dispose();
        }

        var restart = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        var changed = new HashSet<Part>();
        var sources = new SortedSet<string>(StringComparer.Ordinal);
        var keys = _startup.Keys.Union(_applied.Keys, StringComparer.OrdinalIgnoreCase).Union(flat.Keys, StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var key in keys)
        {
            var part = Classify(key, out var source);
            // A key that needs a restart is compared with what the daemon started with, so it stays reported until then.
            var before = part == Part.Restart ? _startup : _applied;
            if (Value(before, key) == Value(flat, key)) continue;
            if (part == Part.Restart) restart.Add(key);
            else if (part == Part.Source) sources.Add(SourceName(source!, next));
            else changed.Add(part);
        }

        var applied = new List<string>();
        if (changed.Contains(Part.Auth))
        {
            _credentials.Options = next.Auth;
            // An open feed connection was admitted with its token once: one the new tokens no longer admit as they
            // did is closed (a client reconnects, and is judged by the new tokens).
            var closed = _feed.Revoke(token => StillAdmits(next.Auth, token), "closed by a configuration reload: the token no longer admits this connection as before");
            applied.Add($"Auth: {next.Auth.Tokens.Count} tokens, rate limit {(next.Auth.RateLimitPerSecond > 0 ? $"{next.Auth.RateLimitPerSecond}/s burst {next.Auth.RateLimitBurst}" : "off")}" +
                        (closed > 0 ? $", {closed} feed connections closed" : ""));
        }
        if (changed.Contains(Part.Logging))
        {
            // The effective values of every layer on top of them all; a level removed from the file is unset here. The
            // layers below still hold what the daemon started with, so a key of the start is unset too, not only one
            // of the last reload (it would come back from the file read at start otherwise).
            var logging = flat.Where(kv => InSection(kv.Key, "Logging")).ToDictionary(kv => kv.Key, kv => (string?)kv.Value, StringComparer.OrdinalIgnoreCase);
            foreach (var gone in _startup.Keys.Concat(_applied.Keys).Where(k => InSection(k, "Logging") && !logging.ContainsKey(k))) logging[gone] = "";
            _layers.Overrides.Replace("Logging", logging);
            applied.Add("Logging");
        }
        if (changed.Contains(Part.Live) && _graph.Live is { } live)
        {
            live.Options = next.Live with { Enabled = live.Options.Enabled };
            applied.Add("Live");
        }
        if (changed.Contains(Part.Rules) && _graph.Alerts is { } alerts)
        {
            var rules = alerts.Reconfigure(next.Thresholds.Rules);
            applied.Add("Thresholds:Rules: " + Describe(rules.Unchanged, rules.Changed, rules.Added, rules.Removed));
        }
        if (changed.Contains(Part.Tiers) && _graph.Downsample is { } downsample)
        {
            var tiers = await _graph.Runner.ReconfigureWindowsAsync(output => downsample.Reconfigure(next.Downsample, output),
                () => downsample.Engine.SnapshotInProgress, SnapshotWait, cancellationToken).ConfigureAwait(false);
            applied.Add("Downsample:Tiers: " + Describe(tiers.Unchanged, tiers.Changed, tiers.Added, tiers.Removed));
        }
        if (sources.Count > 0) applied.AddRange(await _sources.ApplyAsync(next.Sources, sources, cancellationToken).ConfigureAwait(false));

        _applied = flat;
        _options = next;
        return (applied, restart.ToList(), keys.Count);
    }

    /// <summary>
    /// Whether a connection admitted with <paramref name="token"/> may stay under <paramref name="auth"/>: auth off
    /// admits everyone; otherwise the same token (by its digest) must still be configured with the same name, scopes
    /// and databases.
    /// </summary>
    internal static bool StillAdmits(AuthOptions auth, ApiToken token)
    {
        if (!auth.Enabled) return true;
        if (token.Digest is null || !auth.Tokens.TryGetValue(token.Digest, out var now)) return false;
        return now.Name == token.Name && now.Scopes == token.Scopes
            && (now.Databases is null ? token.Databases is null : token.Databases is not null && now.Databases.SetEquals(token.Databases));
    }

    /// <summary>What a reload does with a key.</summary>
    private enum Part
    {
        Restart,
        Auth,
        Logging,
        Live,
        Rules,
        Tiers,
        Source,
    }

    private Part Classify(string key, out string? source)
    {
        source = null;
        if (InSection(key, "Logging")) return Part.Logging;
        if (InSection(key, "Auth")) return Part.Auth;
        if (InSection(key, "Live:FlushInterval") || InSection(key, "Live:Expiry") || InSection(key, "Live:MaxSeries"))
            return _graph.Live is null ? Part.Restart : Part.Live;
        // The check and the windows exist or not from the start: rules or tiers where there were none need a restart.
        if (InSection(key, "Thresholds:Rules")) return _graph.Alerts is null ? Part.Restart : Part.Rules;
        if (InSection(key, "Downsample:Tiers")) return _graph.Downsample is null ? Part.Restart : Part.Tiers;
        if (InSection(key, "Sources") && key.Split(':') is { Length: > 1 } parts)
        {
            source = parts[1];
            return Part.Source;
        }
        return Part.Restart;
    }

    /// <summary>A source's name as configured (keys compare without case; names are kept as written).</summary>
    private string SourceName(string key, IngestOptions next) =>
        next.Sources.Concat(_options.Sources).FirstOrDefault(s => s.Name.Equals(key, StringComparison.OrdinalIgnoreCase))?.Name ?? key;

    private static bool InSection(string key, string section) =>
        key.Equals(section, StringComparison.OrdinalIgnoreCase) || key.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase);

    private static string? Value(IReadOnlyDictionary<string, string> values, string key) => values.TryGetValue(key, out var v) ? v : null;

    /// <summary>The daemon's own keys with a value (the host's other variables never change while it runs).</summary>
    private static IReadOnlyDictionary<string, string> Flatten(IConfiguration configuration)
    {
        var known = new HashSet<string>(ConfigurationSetup.KnownSections, StringComparer.OrdinalIgnoreCase);
        var flat = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            if (value is null) continue;
            var colon = key.IndexOf(':');
            if (known.Contains(colon < 0 ? key : key[..colon])) flat[key] = value;
        }
        return flat;
    }

    private static string Describe(IReadOnlyList<string> unchanged, IReadOnlyList<string> changed, IReadOnlyList<string> added, IReadOnlyList<string> removed)
    {
        static string List(IReadOnlyList<string> names) => names.Count == 0 ? "none" : string.Join(", ", names);
        return $"kept {List(unchanged)}; changed {List(changed)}; added {List(added)}; removed {List(removed)}";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Configuration reloaded ({Trigger}): {Applied}. Keys that need a restart to apply: {Restart}")]
    private partial void LogReloaded(string trigger, string applied, string restart);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Configuration reload ({Trigger}) compared {Keys} keys with the running configuration")]
    private partial void LogCompared(string trigger, int keys);

    [LoggerMessage(Level = LogLevel.Error, Message = "Configuration reload ({Trigger}) refused, the running configuration stays: {Error}")]
    private partial void LogRefused(string trigger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Configuration reload ({Trigger}) failed while applying; what applied before the failure stays")]
    private partial void LogApplyFailed(string trigger, Exception exception);
}

/// <summary>One reload: when, what asked for it, whether it applied, and what it changed or why it was refused.</summary>
/// <param name="Applied">What was rebuilt or replaced, one entry per part.</param>
/// <param name="RestartRequired">Changed keys that take effect only at the next start.</param>
public sealed record ReloadReport(DateTimeOffset At, string Trigger, bool Succeeded, string? Error,
    IReadOnlyList<string> Applied, IReadOnlyList<string> RestartRequired, double Seconds)
{
    public string Result => Succeeded ? "success" : "failure";

    /// <summary>As <c>/api/status</c> and the reload endpoint show it.</summary>
    public object Describe() => new
    {
        at = At,
        trigger = Trigger,
        result = Result,
        error = Error,
        applied = Applied,
        restartRequired = RestartRequired,
        seconds = Math.Round(Seconds, 4),
    };
}
