using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private influxd 1.x on loopback ports with its data in a temp folder.
/// Ports and data survive <see cref="ManagedServer.StopAsync"/>/<see cref="ManagedServer.StartAsync"/>, so a test can
/// take InfluxDB away for a while and bring the same instance back; data written before a
/// <see cref="ManagedServer.KillAsync"/> stays too (the WAL is fsynced per write).
/// </summary>
public sealed class InfluxServer : ManagedServer
{
    private const string DebianPackages = "influxdb influxdb-client";
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Allocates ports, a temp folder and the config file; does not start the process.</summary>
    public InfluxServer()
        : base("influxd", DebianPackages, "ingest-influxd-", "address already in use", stopGrace: TimeSpan.FromSeconds(20))
    {
        ConfigPath = Path.Combine(RootDirectory, "influxdb.conf");
        AllocatePorts();
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Creates an instance and waits until it answers /ping.</summary>
    public static Task<InfluxServer> StartNewAsync(CancellationToken cancellationToken = default) =>
        StartedAsync(new InfluxServer(), cancellationToken);

    /// <summary>Base URL of the HTTP API, e.g. <c>http://127.0.0.1:23456</c> (no trailing slash).</summary>
    public string Url => $"http://127.0.0.1:{HttpPort}";
    public int HttpPort { get; private set; }
    /// <summary>The top-level RPC (backup/restore) bind port.</summary>
    public int RpcPort { get; private set; }
    public int IfqlPort { get; private set; }
    /// <summary>Temp folder holding config, meta, data and wal; deleted by <see cref="ManagedServer.DisposeAsync"/>.</summary>
    public string RootDirectory => Folder;
    public string ConfigPath { get; }
    /// <summary>HttpClient whose BaseAddress is <see cref="Url"/>.</summary>
    public HttpClient Http { get; }

    /// <summary>Runs InfluxQL via POST /query (epoch=ns) and returns the parsed response.</summary>
    /// <exception cref="InfluxQueryException">on a non-2xx answer or an <c>error</c> in any statement result.</exception>
    public async Task<JsonElement> QueryAsync(string db, string influxQl, CancellationToken cancellationToken = default)
    {
        var form = new List<KeyValuePair<string, string>> { new("q", influxQl), new("epoch", "ns") };
        if (!string.IsNullOrEmpty(db)) form.Add(new("db", db));
        using var response = await Http.PostAsync("/query", new FormUrlEncodedContent(form), cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new InfluxQueryException($"influxd /query answered {(int)response.StatusCode}: {body}", influxQl);

        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement.Clone();
        if (root.TryGetProperty("error", out var topError))
            throw new InfluxQueryException(topError.GetString() ?? "unknown error", influxQl);
        if (root.TryGetProperty("results", out var results))
        {
            foreach (var r in results.EnumerateArray())
            {
                if (r.TryGetProperty("error", out var err))
                    throw new InfluxQueryException(err.GetString() ?? "unknown error", influxQl);
            }
        }
        return root;
    }

    public Task CreateDatabaseAsync(string db, CancellationToken cancellationToken = default) =>
        QueryAsync("", $"CREATE DATABASE {QuoteIdentifier(db)}", cancellationToken);

    /// <summary>
    /// Number of points in <paramref name="measurement"/>: COUNT(<paramref name="field"/>) if given, else the largest
    /// per-field count of COUNT(*) (exact when every point carries that field). 0 when the database or measurement
    /// does not exist yet, so it can be polled.
    /// </summary>
    public async Task<long> CountAsync(string db, string measurement, string? field = null, CancellationToken cancellationToken = default)
    {
        var selector = field is null ? "*" : QuoteIdentifier(field);
        JsonElement root;
        try
        {
            root = await QueryAsync(db, $"SELECT COUNT({selector}) FROM {QuoteIdentifier(measurement)}", cancellationToken).ConfigureAwait(false);
        }
        catch (InfluxQueryException ex) when (ex.Message.Contains("database not found", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }

        long max = 0;
        foreach (var result in root.GetProperty("results").EnumerateArray())
        {
            if (!result.TryGetProperty("series", out var series)) continue;
            foreach (var s in series.EnumerateArray())
            foreach (var row in s.GetProperty("values").EnumerateArray())
            {
                var first = true;
                foreach (var cell in row.EnumerateArray())
                {
                    if (first) { first = false; continue; } // time column
                    if (cell.ValueKind == JsonValueKind.Number) max = Math.Max(max, cell.GetInt64());
                }
            }
        }
        return max;
    }

    /// <summary>Polls <see cref="CountAsync"/> until it reaches <paramref name="expected"/>; returns the last count.</summary>
    public async Task<long> WaitForCountAsync(string db, string measurement, long expected, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        long count;
        while (true)
        {
            count = await CountAsync(db, measurement, null, cancellationToken).ConfigureAwait(false);
            if (count >= expected || sw.Elapsed >= timeout) return count;
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes line protocol straight to influxd's own /write (bypassing the daemon).</summary>
    public async Task WriteAsync(string db, string lineProtocol, string precision = "ns", CancellationToken cancellationToken = default)
    {
        var uri = $"/write?db={Uri.EscapeDataString(db)}&precision={Uri.EscapeDataString(precision)}";
        using var response = await Http.PostAsync(uri, new StringContent(lineProtocol, Encoding.UTF8, "text/plain"), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NoContent)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ServerHarnessException($"influxd /write answered {(int)response.StatusCode}: {body}");
        }
    }

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private protected override ServerProcess Launch()
    {
        WriteConfig();
        return StartProcess(new[] { "run", "-config", ConfigPath }, "INFLUXDB_");
    }

    private protected override void MoveToNewPorts()
    {
        AllocatePorts();
        Http.BaseAddress = new Uri(Url);
    }

    private protected override void DisposeClients() => Http.Dispose();

    private void AllocatePorts()
    {
        HttpPort = FreePort.Next();
        RpcPort = FreePort.Next();
        IfqlPort = FreePort.Next();
    }

    /// <summary>Waits for <c>GET /ping</c> = 204.</summary>
    private protected override async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await PollUntilReadyAsync(async ct =>
            {
                try
                {
                    using var response = await probe.GetAsync($"{Url}/ping", ct).ConfigureAwait(false);
                    return response.StatusCode == HttpStatusCode.NoContent;
                }
                catch (HttpRequestException) { return false; }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested) { return false; }
            },
            DefaultStartTimeout, $"influxd did not answer GET {Url}/ping with 204", $" Config: {ConfigPath}.", cancellationToken)
            .ConfigureAwait(false);
    }

    private void WriteConfig()
    {
        var defaults = RunToCompletion(Executable, "config", "-config", "/dev/null");
        File.WriteAllText(ConfigPath, InfluxConfig.Rewrite(defaults, RootDirectory, HttpPort, RpcPort, IfqlPort));
    }

    private static string RunToCompletion(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new ServerHarnessException($"could not run {file}");
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || stdout.Length == 0)
            throw new ServerHarnessException($"'{file} {string.Join(' ', args)}' failed ({p.ExitCode}): {stderrTask.Result}");
        return stdout;
    }
}

/// <summary>An InfluxQL statement came back with an error.</summary>
public sealed class InfluxQueryException : Exception
{
    public InfluxQueryException(string message, string query) : base($"{message} (query: {query})") => Query = query;
    public string Query { get; }
}

/// <summary>Turns the output of <c>influxd config</c> into a loopback-only, temp-folder config for tests.</summary>
public static class InfluxConfig
{
    private static readonly HashSet<string> InputServices = new() { "graphite", "collectd", "opentsdb", "udp" };

    public static string Rewrite(string defaults, string root, int httpPort, int rpcPort, int ifqlPort)
    {
        var output = new StringBuilder();
        var section = "";
        foreach (var rawLine in defaults.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            var trimmed = line.Trim();
            if (trimmed.StartsWith('['))
            {
                section = trimmed.Trim('[', ']', ' ');
                output.Append(line).Append('\n');
                continue;
            }

            var eq = trimmed.IndexOf('=');
            if (eq <= 0 || trimmed.StartsWith('#'))
            {
                output.Append(line).Append('\n');
                continue;
            }
            var key = trimmed[..eq].Trim();
            var value = trimmed[(eq + 1)..].Trim();
            var indent = line[..(line.Length - line.TrimStart().Length)];
            var replacement = Replace(section, key, value, root, httpPort, rpcPort, ifqlPort);
            output.Append(indent).Append(key).Append(" = ").Append(replacement ?? value).Append('\n');
        }
        return output.ToString();
    }

    private static string? Replace(string section, string key, string value, string root, int httpPort, int rpcPort, int ifqlPort)
    {
        static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

        switch (section, key)
        {
            case ("", "bind-address"): return Q($"127.0.0.1:{rpcPort}");
            case ("", "reporting-disabled"): return "true";
            case ("", "reporting-enabled"): return "false"; // Debian's build spells the switch this way round
            case ("meta", "dir"): return Q(Path.Combine(root, "meta"));
            case ("data", "dir"): return Q(Path.Combine(root, "data"));
            case ("data", "wal-dir"): return Q(Path.Combine(root, "wal"));
            case ("data", "query-log-enabled"): return "false";
            case ("http", "bind-address"): return Q($"127.0.0.1:{httpPort}");
            case ("http", "log-enabled"): return "false";
            case ("http", "unix-socket-enabled"): return "false";
            case ("http", "bind-socket"): return Q(Path.Combine(root, "influxd.sock"));
            case ("ifql", "bind-address"): return Q($"127.0.0.1:{ifqlPort}");
            case ("ifql", "enabled"): return "false";
            // _internal statistics would add a database and background writes nobody asked for.
            case ("monitor", "store-enabled"): return "false";
            case ("logging", "suppress-logo"): return "true";
        }

        if (InputServices.Contains(section) && key == "enabled") return "false";
        if (key == "bind-address")
        {
            // Disabled services never bind; pinning them to loopback keeps the file honest if one gets enabled.
            var unquoted = value.Trim('"');
            var colon = unquoted.LastIndexOf(':');
            var port = colon >= 0 ? unquoted[(colon + 1)..] : unquoted;
            return Q($"127.0.0.1:{port}");
        }
        return null;
    }
}
