using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Ingest.IntegrationTests.Servers;

/// <summary>
/// A private PostgreSQL cluster (Debian's <c>postgresql</c>): <c>initdb</c> into a temp folder, then <c>postgres</c>
/// on a free loopback port with its socket in the same folder; the system's own cluster is never touched. Both
/// refuse to run as root, so as root they run as the <c>postgres</c> user the package creates (through
/// <c>setpriv</c>, which execs in place: the process the harness stops is postgres itself). Clients log in as
/// <see cref="User"/> with <see cref="Password"/> over TCP (scram-sha-256).
/// </summary>
public sealed class PostgresServer : ManagedServer
{
    private const string DebianPackages = "postgresql";
    private const string OsUser = "postgres";
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);

    public const string User = "ingest";
    public const string Password = "pg-Secret-4711";

    private PostgresServer(string postgres)
        : base(postgres, DebianPackages, "ingest-postgres-", "Address already in use", stopGrace: TimeSpan.FromSeconds(15))
    {
        Port = FreePort.Next();
        _bin = Path.GetDirectoryName(postgres)!;
    }

    private readonly string _bin;

    public static Task<PostgresServer> StartNewAsync(CancellationToken cancellationToken = default) =>
        StartedAsync(new PostgresServer(FindPostgres()), cancellationToken);

    public int Port { get; private set; }
    public string DataDirectory => Path.Combine(Folder, "data");
    private string SocketDirectory => Path.Combine(Folder, "run");

    /// <summary>An Npgsql connection string for <paramref name="database"/> as <see cref="User"/>.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username={User};Password={Password};Database={database};Pooling=false;Timeout=5";

    /// <summary>Runs SQL statements on <paramref name="database"/>.</summary>
    public async Task ExecuteAsync(string database, params string[] statements)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        foreach (var sql in statements)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The server binary of the newest installed major version (Debian keeps them apart from PATH).</summary>
    private static string FindPostgres()
    {
        var root = "/usr/lib/postgresql";
        var found = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0, Path: Path.Combine(d, "bin", "postgres")))
                .Where(c => File.Exists(c.Path)).OrderByDescending(c => c.Version).Select(c => c.Path).FirstOrDefault()
            : null;
        return found ?? throw new ServerHarnessException(
            $"PostgreSQL was not found under {root}/*/bin. Install the Debian package: apt-get install -y {DebianPackages} " +
            "(./run.sh test installs it when run as root).");
    }

    private static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs a PostgreSQL tool to its end as the cluster's user; throws with its output when it fails.</summary>
    private void RunTool(string tool, params string[] args)
    {
        var psi = CommandAs(Path.Combine(_bin, tool), args);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new ServerHarnessException($"{tool} did not finish within 60s");
        }
        if (p.ExitCode != 0)
            throw new ServerHarnessException($"{tool} {string.Join(' ', args)} exited with {p.ExitCode}: {output.Result}{error.Result}");
    }

    private ProcessStartInfo CommandAs(string executable, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(IsRoot ? "setpriv" : executable) { UseShellExecute = false, WorkingDirectory = Folder };
        if (IsRoot)
            foreach (var a in (string[])["--reuid", OsUser, "--regid", OsUser, "--init-groups", "--", executable]) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    private void InitializeCluster()
    {
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION"))) return;
        Directory.CreateDirectory(SocketDirectory);
        var passwordFile = Path.Combine(Folder, "pwfile");
        File.WriteAllText(passwordFile, Password + "\n");
        if (IsRoot)
        {
            using var chown = Process.Start("chown", ["-R", $"{OsUser}:{OsUser}", Folder])!;
            chown.WaitForExit();
            if (chown.ExitCode != 0) throw new ServerHarnessException($"chown {OsUser} {Folder} failed");
        }
        RunTool("initdb", "-D", DataDirectory, "-U", User, "--pwfile", passwordFile, "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync");
    }

    private protected override ServerProcess Launch()
    {
        InitializeCluster();
        var args = new List<string>
        {
            "-D", DataDirectory,
            "-k", SocketDirectory,
            "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=30",
            "-c", "shared_buffers=16MB",
            "-c", "logging_collector=off",
        };
        if (!IsRoot) return StartProcess(args);
        return StartProcessThrough("setpriv", ["--reuid", OsUser, "--regid", OsUser, "--init-groups", "--", Executable, .. args]);
    }

    private protected override void MoveToNewPorts() => Port = FreePort.Next();

    private protected override Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        PollUntilReadyAsync(async ct =>
            {
                try
                {
                    await using var connection = new NpgsqlConnection(ConnectionString());
                    await connection.OpenAsync(ct);
                    return true;
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !ct.IsCancellationRequested)
                {
                    return false;
                }
            },
            DefaultStartTimeout, $"postgres on 127.0.0.1:{Port} did not accept a login", "", cancellationToken);
}
