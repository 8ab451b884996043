using System.Net;
using System.Text.Json;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private Prometheus server (Debian package <c>prometheus</c>) on a free loopback port, its TSDB in a temp folder,
/// scraping one target at a short interval, for checking PromQL against what the daemon really exports.
/// </summary>
public sealed class PrometheusServer : ManagedServer
{
    private const string DebianPackages = "prometheus";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly string _target;
    private readonly TimeSpan _scrapeInterval;

    /// <param name="target">host:port whose <c>/metrics</c> is scraped, as job <c>ingest</c>.</param>
    private PrometheusServer(string target, TimeSpan scrapeInterval)
        : base("prometheus", DebianPackages, "ingest-prometheus-", "address already in use", stopGrace: TimeSpan.FromSeconds(10))
    {
        _target = target;
        _scrapeInterval = scrapeInterval;
        Port = FreePort.Next();
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
    }

    /// <summary>Starts a server scraping <paramref name="target"/> every <paramref name="scrapeInterval"/> and waits for <c>/-/ready</c>.</summary>
    public static Task<PrometheusServer> StartNewAsync(string target, TimeSpan scrapeInterval, CancellationToken cancellationToken = default) =>
        StartedAsync(new PrometheusServer(target, scrapeInterval), cancellationToken);

    public int Port { get; private set; }
    public string Url => $"http://127.0.0.1:{Port}";
    private HttpClient Http { get; }

    /// <summary>An instant query (<c>/api/v1/query</c>) at the server's now; returns <c>data.result</c>.</summary>
    /// <exception cref="ServerHarnessException">when Prometheus refuses the expression.</exception>
    public async Task<JsonElement> QueryAsync(string promQl, CancellationToken cancellationToken = default)
    {
        var data = await GetDataAsync($"/api/v1/query?query={Uri.EscapeDataString(promQl)}", promQl, cancellationToken).ConfigureAwait(false);
        return data.GetProperty("result");
    }

    /// <summary>The values of <paramref name="label"/> on series matching <paramref name="match"/> (<c>label_values(match, label)</c>).</summary>
    public async Task<List<string>> LabelValuesAsync(string label, string match, CancellationToken cancellationToken = default)
    {
        var data = await GetDataAsync($"/api/v1/label/{Uri.EscapeDataString(label)}/values?match[]={Uri.EscapeDataString(match)}",
            $"label_values({match}, {label})", cancellationToken).ConfigureAwait(false);
        return data.EnumerateArray().Select(v => v.GetString()!).ToList();
    }

    private async Task<JsonElement> GetDataAsync(string pathAndQuery, string what, CancellationToken cancellationToken)
    {
        using var response = await Http.GetAsync(Url + pathAndQuery, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new ServerHarnessException($"Prometheus answered {(int)response.StatusCode} for {what}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("data").Clone();
    }

    private protected override ServerProcess Launch()
    {
        var config = Path.Combine(Folder, "prometheus.yml");
        var interval = $"{(int)Math.Max(1, _scrapeInterval.TotalMilliseconds)}ms";
        File.WriteAllText(config, $"""
            global:
              scrape_interval: {interval}
              evaluation_interval: {interval}
            scrape_configs:
              - job_name: ingest
                static_configs:
                  - targets: ["{_target}"]
            """);
        return StartProcess([
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(Folder, "data")}",
            $"--web.listen-address=127.0.0.1:{Port}",
            "--log.level=warn",
        ]);
    }

    private protected override async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await PollUntilReadyAsync(async ct =>
            {
                try
                {
                    using var response = await probe.GetAsync($"{Url}/-/ready", ct).ConfigureAwait(false);
                    return response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException) { return false; }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested) { return false; }
            },
            StartTimeout, $"prometheus did not answer GET {Url}/-/ready with 200", $" Folder: {Folder}.", cancellationToken)
            .ConfigureAwait(false);
    }

    private protected override void MoveToNewPorts() => Port = FreePort.Next();

    private protected override void DisposeClients() => Http.Dispose();
}
