using System.Data.Common;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Ingest.Sources.Sql;

/// <summary>The database a <c>sql</c> source polls.</summary>
public enum SqlProvider
{
    Sqlite,
    PostgreSql,
}

/// <summary>How <see cref="SqlSettings.TimeColumn"/> holds a point's time.</summary>
public enum SqlTimeFormat
{
    /// <summary>A database timestamp, or text such as <c>2024-05-01 12:00:00</c> or ISO 8601 (UTC unless it carries an offset).</summary>
    DateTime,
    UnixSeconds,
    UnixMilliseconds,
    UnixMicroseconds,
    UnixNanoseconds,
}

/// <summary>
/// A <c>sql</c> source's own keys (<c>Sources:&lt;name&gt;:…</c>): where to connect, what to run how often, and
/// how the columns of its result become measurement, tags, fields and time.
/// </summary>
public sealed record SqlSettings
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The name of the query parameter bound to the newest time seen (incremental polling).</summary>
    public const string LastTimeParameter = "@last_time";

    public SqlProvider Provider { get; init; }

    /// <summary>The provider's connection string; it may hold a password, so it is never logged (see <see cref="Redacted"/>).</summary>
    public string ConnectionString { get; init; } = "";

    public string Query { get; init; } = "";
    public TimeSpan Interval { get; init; } = DefaultInterval;
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>The measurement of every row; null when <see cref="MeasurementColumn"/> names it per row.</summary>
    public string? Measurement { get; init; }

    public string? MeasurementColumn { get; init; }
    public IReadOnlyList<string> TagColumns { get; init; } = [];

    /// <summary>The field columns; null: every column that is not the measurement, a tag or the time.</summary>
    public IReadOnlyList<string>? FieldColumns { get; init; }

    /// <summary>The column holding each row's time; null: the time of the poll.</summary>
    public string? TimeColumn { get; init; }

    public SqlTimeFormat TimeFormat { get; init; } = SqlTimeFormat.DateTime;

    /// <summary>True when the query names <see cref="LastTimeParameter"/>: it is bound to the newest time seen.</summary>
    public bool Incremental => Query.Contains(LastTimeParameter, StringComparison.OrdinalIgnoreCase);

    private static readonly Dictionary<string, SqlProvider> Providers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sqlite"] = SqlProvider.Sqlite,
        ["postgresql"] = SqlProvider.PostgreSql,
    };

    private static readonly Dictionary<string, SqlTimeFormat> TimeFormats = new(StringComparer.OrdinalIgnoreCase)
    {
        ["datetime"] = SqlTimeFormat.DateTime,
        ["s"] = SqlTimeFormat.UnixSeconds,
        ["ms"] = SqlTimeFormat.UnixMilliseconds,
        ["us"] = SqlTimeFormat.UnixMicroseconds,
        ["ns"] = SqlTimeFormat.UnixNanoseconds,
    };

    internal static SqlSettings Read(SectionReader r)
    {
        var name = r.Name;
        // The connector writes the line protocol itself, with nanosecond timestamps: the payload keys cannot apply.
        var format = r.String("Format", "line");
        if (!format.Equals("line", StringComparison.OrdinalIgnoreCase))
            throw new ConfigurationError(name + ":Format", format, "a sql source makes line protocol from its columns: leave Format out");
        var precision = r.String("Precision", "ns");
        if (precision is not ("" or "n" or "ns"))
            throw new ConfigurationError(name + ":Precision", precision, "a sql source's times come from TimeColumn and TimeFormat: leave Precision out");

        var providerText = r.String("Provider", "");
        if (!Providers.TryGetValue(providerText, out var provider))
            throw new ConfigurationError(name + ":Provider", providerText, "expected one of: " + string.Join(", ", Providers.Keys));

        var connectionString = r.String("ConnectionString", "");
        if (connectionString.Length == 0)
            throw new ConfigurationError(name + ":ConnectionString", "", "a sql source needs the connection string of its database");
        try
        {
            _ = Builder(provider, connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            // The provider's message quotes a keyword at most, never a value.
            throw new ConfigurationError(name + ":ConnectionString", Redacted(connectionString),
                $"not a {providerText} connection string: {e.Message}");
        }

        var query = r.String("Query", "");
        if (query.Length == 0)
            throw new ConfigurationError(name + ":Query", "", "a sql source needs the query it polls");

        var interval = r.Duration("Interval", DefaultInterval, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        var timeout = r.Duration("Timeout", DefaultTimeout < interval ? DefaultTimeout : interval, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));

        var measurement = Optional(r.String("Measurement", ""));
        var measurementColumn = Optional(r.String("MeasurementColumn", ""));
        if ((measurement is null) == (measurementColumn is null))
            throw new ConfigurationError(name + ":Measurement", measurement ?? "",
                "give either Measurement (one name for every row) or MeasurementColumn (the column naming each row's), not both or neither");

        var tags = Columns(r, "TagColumns") ?? [];
        var fields = Columns(r, "FieldColumns");
        var timeColumn = Optional(r.String("TimeColumn", ""));
        var timeFormat = r.Choice("TimeFormat", SqlTimeFormat.DateTime, TimeFormats);
        if (timeColumn is null && r.String("TimeFormat", "").Length > 0)
            throw new ConfigurationError(name + ":TimeFormat", r.String("TimeFormat", ""), "TimeFormat says how TimeColumn holds the time: give TimeColumn too");

        var special = new List<(string Key, string Column)>();
        if (measurementColumn is not null) special.Add(("MeasurementColumn", measurementColumn));
        if (timeColumn is not null) special.Add(("TimeColumn", timeColumn));
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, column) in special.Concat(tags.Select((t, i) => ($"TagColumns:{i}", t))).Concat((fields ?? []).Select((f, i) => ($"FieldColumns:{i}", f))))
        {
            if (!seen.TryAdd(column, key))
                throw new ConfigurationError($"{name}:{key}", column, $"the column is already {name}:{seen[column]}: a column has one role");
        }

        var settings = new SqlSettings
        {
            Provider = provider,
            ConnectionString = connectionString,
            Query = query,
            Interval = interval,
            Timeout = timeout,
            Measurement = measurement,
            MeasurementColumn = measurementColumn,
            TagColumns = tags,
            FieldColumns = fields,
            TimeColumn = timeColumn,
            TimeFormat = timeFormat,
        };
        if (settings.Incremental && timeColumn is null)
            throw new ConfigurationError(name + ":Query", query, $"{LastTimeParameter} is the newest time of TimeColumn seen so far: give TimeColumn");
        return settings;
    }

    private static string? Optional(string value) => value.Length == 0 ? null : value;

    private static IReadOnlyList<string>? Columns(SectionReader r, string key)
    {
        var list = r.List(key);
        if (list is null) return null;
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Length == 0)
                throw new ConfigurationError($"{r.Name}:{key}:{i}", "", "a column name cannot be empty");
        }
        return list;
    }

    private static DbConnectionStringBuilder Builder(SqlProvider provider, string connectionString) => provider switch
    {
        SqlProvider.Sqlite => new SqliteConnectionStringBuilder(connectionString),
        _ => new NpgsqlConnectionStringBuilder(connectionString),
    };

    /// <summary>The connection string with its password masked, for messages.</summary>
    public string Redacted() => Redacted(ConnectionString);

    /// <summary>Where the source connects, for logs: the database file, or host, port and database.</summary>
    public string Target()
    {
        try
        {
            return Builder(Provider, ConnectionString) switch
            {
                SqliteConnectionStringBuilder s => s.DataSource,
                NpgsqlConnectionStringBuilder p => $"{p.Host}:{p.Port}/{p.Database}",
                _ => "",
            };
        }
        catch (ArgumentException)
        {
            return "";
        }
    }

    // Password=…, Pwd=…, Psw=… (quoted or not) up to the next ';'.
    private static readonly System.Text.RegularExpressions.Regex PasswordPair = new(
        """(?i)(^|;)(\s*(?:password|pwd|psw)\s*=\s*)("[^"]*"|'[^']*'|[^;]*)""",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The connection string as written, its password masked.</summary>
    private static string Redacted(string connectionString) =>
        PasswordPair.Replace(connectionString, m => m.Groups[3].Length == 0 ? m.Value : m.Groups[1].Value + m.Groups[2].Value + Ingest.Hosting.SecretRedactor.Mask);

    /// <summary>Unix nanoseconds to the value <see cref="LastTimeParameter"/> is bound to, in <see cref="TimeFormat"/>'s unit.</summary>
    internal object LastTimeValue(long nanoseconds) => TimeFormat switch
    {
        SqlTimeFormat.UnixSeconds => nanoseconds / 1_000_000_000,
        SqlTimeFormat.UnixMilliseconds => nanoseconds / 1_000_000,
        SqlTimeFormat.UnixMicroseconds => nanoseconds / 1_000,
        SqlTimeFormat.UnixNanoseconds => nanoseconds,
        _ => System.DateTime.SpecifyKind(System.DateTime.UnixEpoch.AddTicks(nanoseconds / 100), DateTimeKind.Utc),
    };

    /// <summary>The source type, for <see cref="SourceCatalog"/>.</summary>
    internal static SourceType Type { get; } = new("sql", SourceDelivery.Polled, Read,
        (options, services) => new SqlConnector(options.SettingsAs<SqlSettings>()));
}
