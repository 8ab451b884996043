using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sinks.Influx;
using Microsoft.Extensions.Logging;

namespace Ingest.Admission;

/// <summary>
/// What the daemon knows of InfluxDB's schema: which databases and retention policies exist, how long each policy
/// keeps points, and the type of every field per measurement and retention policy. With it, admission refuses what
/// InfluxDB would refuse, with InfluxDB's own status and message, before the client is told 2xx.
/// </summary>
/// <remarks>
/// <para>A database is learned from InfluxDB on the first write to it (<c>SHOW RETENTION POLICIES</c> and
/// <c>SHOW FIELD KEYS</c> per policy), learned again in the background when what is known is older than
/// <see cref="RefreshAfter"/>, and asked again at most every <see cref="MissRecheck"/> when a write names a
/// database or policy it does not hold (one may have been created on InfluxDB directly). Field types are also kept
/// current from the points admission accepts: the first accepted point with a field fixes its type, as the first
/// point written to a shard does in InfluxDB.</para>
/// <para>When InfluxDB cannot be reached, or does not answer within <see cref="LoadTimeout"/>, nothing about the
/// database's existence or policies is known and writes are accepted (they are buffered until InfluxDB is back);
/// field types learned from accepted points are still checked.</para>
/// <para>Only with a 1.x sink: a 2.x sink's buckets are not checked.</para>
/// <para>Concurrency: <see cref="CheckAsync"/> is called from any number of requests at once. It allocates
/// nothing per point once a database is learned and its fields are known; a new measurement or field costs one
/// allocation, once.</para>
/// </remarks>
public sealed partial class InfluxSchema
{
    /// <summary>How long a write waits for InfluxDB's schema the first time it names a database.</summary>
    public static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(2);

    /// <summary>After this, a database's schema is learned again in the background.</summary>
    public static readonly TimeSpan RefreshAfter = TimeSpan.FromMinutes(5);

    /// <summary>How often a database or retention policy the schema lacks is asked about again.</summary>
    public static readonly TimeSpan MissRecheck = TimeSpan.FromSeconds(1);

    /// <summary>How long after a failed load InfluxDB is asked again.</summary>
    public static readonly TimeSpan FailedRetry = TimeSpan.FromSeconds(5);

    private readonly InfluxOptions _options;
    private readonly Func<string, string, CancellationToken, Task<(JsonDocument? Result, int Status, string? Error)>> _query;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, DatabaseEntry> _databases = new(StringComparer.Ordinal);

    public InfluxSchema(InfluxOptions options, InfluxClient influx, ILogger<InfluxSchema> logger)
        : this(options, influx.QueryAsync, TimeProvider.System, logger)
    {
    }

    /// <summary>For tests: <paramref name="query"/> stands for InfluxDB's <c>/query</c>.</summary>
    internal InfluxSchema(
        InfluxOptions options,
        Func<string, string, CancellationToken, Task<(JsonDocument? Result, int Status, string? Error)>> query,
        TimeProvider time,
        ILogger logger)
    {
        _options = options;
        _query = query;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether writes are checked at all (1.x sinks only).</summary>
    public bool Enabled => _options.ApiVersion == 1;

    /// <summary>
    /// Forgets what is known of <paramref name="database"/> (every database when null): called after a statement
    /// that may have changed it went through <c>/query</c> (CREATE/DROP DATABASE, retention policies, DROP
    /// MEASUREMENT/SERIES, DELETE). It is learned again from InfluxDB on the next write to it.
    /// </summary>
    public void Invalidate(string? database)
    {
        if (database is null) _databases.Clear();
        else _databases.TryRemove(database, out _);
    }

    /// <summary>
    /// Checks <paramref name="batch"/> against the schema. On <see cref="SchemaVerdict.Status"/> other than 0 the
    /// whole batch is refused (unknown database or retention policy). Otherwise the points InfluxDB would drop
    /// (field type conflict, older than the retention policy keeps) are taken out of the batch and described in
    /// <see cref="SchemaVerdict.Dropped"/>, and the types of the kept points' new fields are learned; call
    /// <see cref="SchemaVerdict.Undo"/> when the batch is then not accepted after all.
    /// </summary>
    public ValueTask<SchemaVerdict> CheckAsync(PointBatch batch, CancellationToken cancellationToken)
    {
        if (!Enabled || batch.Count == 0) return new(SchemaVerdict.Pass);
        var entry = _databases.GetOrAdd(batch.Database, static name => new DatabaseEntry(name));
        var now = _time.GetUtcNow();
        if (entry.NeedsLoad(now, out var blocking))
        {
            var load = entry.StartLoad(now, this);
            if (blocking) return WaitThenCheckAsync(entry, load, batch, cancellationToken);
        }
        return CheckLoadedAsync(entry, batch, now, cancellationToken);
    }

    private async ValueTask<SchemaVerdict> WaitThenCheckAsync(DatabaseEntry entry, Task load, PointBatch batch, CancellationToken cancellationToken)
    {
        await load.WaitAsync(cancellationToken).ConfigureAwait(false);
        return await CheckLoadedAsync(entry, batch, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
    }

    private ValueTask<SchemaVerdict> CheckLoadedAsync(DatabaseEntry entry, PointBatch batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // A refusal is a database or policy the schema lacks, which may have been created on InfluxDB since it was
        // learned: before refusing, ask again (at most every MissRecheck), so that such a write is not refused long.
        var state = entry.State;
        if (Refusal(state, batch) is not null && now - entry.LoadedAt >= MissRecheck)
            return RecheckThenCheckAsync(entry, batch, now, cancellationToken);
        return new(Check(entry, state, batch, now));
    }

    private async ValueTask<SchemaVerdict> RecheckThenCheckAsync(DatabaseEntry entry, PointBatch batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await entry.StartLoad(now, this).WaitAsync(cancellationToken).ConfigureAwait(false);
        return Check(entry, entry.State, batch, _time.GetUtcNow());
    }

    /// <summary>Why the whole batch would be refused on <paramref name="state"/>, or null.</summary>
    private SchemaVerdict? Refusal(DatabaseState state, PointBatch batch)
    {
        if (!state.Known) return null;
        var rp = batch.RetentionPolicy;
        if (!state.Exists)
        {
            if (!_options.CreateDatabase) return SchemaVerdict.Refuse(404, $"database not found: \"{batch.Database}\"");
            // The sink creates it on first write, with the policy InfluxDB gives a new database.
            return rp.Length > 0 && rp != DatabaseState.CreatedPolicy ? SchemaVerdict.Refuse(500, $"retention policy not found: {rp}") : null;
        }
        return rp.Length > 0 && state.Policy(rp) is null ? SchemaVerdict.Refuse(500, $"retention policy not found: {rp}") : null;
    }

    private SchemaVerdict Check(DatabaseEntry entry, DatabaseState state, PointBatch batch, DateTimeOffset now)
    {
        if (Refusal(state, batch) is { } refused) return refused;
        var rp = batch.RetentionPolicy;
        PolicyEntry? policy = !state.Known ? entry.Unverified(rp) // only the types of points accepted since are checked
            : !state.Exists ? entry.Created()
            : rp.Length == 0 ? state.DefaultPolicy
            : state.Policy(rp);
        // No default policy: InfluxDB decides.
        return policy is null ? SchemaVerdict.Pass : CheckPoints(policy, batch, now);
    }

    [SkipLocalsInit]
    private static SchemaVerdict CheckPoints(PolicyEntry policy, PointBatch batch, DateTimeOffset now)
    {
        long oldest = policy.DurationNanoseconds > 0
            ? (now.UtcTicks - DateTime.UnixEpoch.Ticks) * 100 - policy.DurationNanoseconds
            : long.MinValue;
        List<Learned>? learned = null;
        List<SchemaDrop>? dropped = null;
        Span<byte> scratch = stackalloc byte[256];
        Span<byte> shape = stackalloc byte[MaxShapeBytes];
        // The last few shapes this batch matched, compared before the shared set is asked (a body from one agent
        // cycles through a handful of them).
        var recent = new RecentShapes(stackalloc byte[RecentShapes.Bytes]);
        var points = batch.Points;
        for (int i = 0; i < points.Length; i++)
        {
            if (points[i].Timestamp < oldest)
            {
                (dropped ??= []).Add(new SchemaDrop(i, "points beyond retention policy", LineText(batch, i)));
                continue;
            }
            var seriesKey = batch.SeriesKey(i);
            var measurementKey = seriesKey[..Escaping.MeasurementLength(seriesKey)];
            // Most points repeat a shape (measurement, field keys and types) already checked: one lookup for them.
            int shapeLength = Shape(measurementKey, batch.Fields(i), shape);
            if (shapeLength > 0)
            {
                var current = shape[..shapeLength];
                if (recent.Contains(current)) continue;
                if (policy.HasShape(current))
                {
                    recent.Add(current);
                    continue;
                }
            }
            var measurement = policy.Measurement(Unescaped(measurementKey, EscapeKind.Measurement, scratch, out var rented));
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
            int learnedBefore = learned?.Count ?? 0;
            string? conflict = null;
            foreach (var field in new FieldEnumerator(batch.Fields(i), convert: false))
            {
                var key = Unescaped(field.Key, EscapeKind.Key, scratch, out rented);
                var type = measurement.TypeOf(key, field.Type, out bool added);
                if (added) (learned ??= []).Add(new Learned(measurement, key.ToArray(), field.Type));
                if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
                if (type != field.Type)
                {
                    conflict = $"field type conflict: input field \"{field.KeyString()}\" on measurement \"{Escaping.Unescape(measurementKey, EscapeKind.Measurement)}\" is type {Name(field.Type)}, already exists as type {Name(type)}";
                    break;
                }
            }
            if (conflict is null)
            {
                if (shapeLength > 0)
                {
                    policy.AddShape(shape[..shapeLength]);
                    recent.Add(shape[..shapeLength]);
                }
                continue;
            }
            // InfluxDB drops the whole point; the types its other fields claimed were never stored.
            if (learned is not null)
            {
                for (int k = learned.Count - 1; k >= learnedBefore; k--) learned[k].Undo();
                learned.RemoveRange(learnedBefore, learned.Count - learnedBefore);
            }
            (dropped ??= []).Add(new SchemaDrop(i, conflict, LineText(batch, i)));
        }
        if (dropped is null) return learned is null ? SchemaVerdict.Pass : new SchemaVerdict(0, null, null, learned);
        RemovePoints(batch, dropped);
        return new SchemaVerdict(0, null, dropped, learned);
    }

    private static void RemovePoints(PointBatch batch, List<SchemaDrop> dropped)
    {
        var indexes = new int[dropped.Count];
        for (int i = 0; i < indexes.Length; i++) indexes[i] = dropped[i].PointIndex;
        batch.RemovePoints(indexes);
    }

    private const int MaxShapeBytes = 512;

    /// <summary>A few shapes of up to <see cref="Slot"/> bytes, kept in a caller's stack buffer, oldest replaced first.</summary>
    private ref struct RecentShapes(Span<byte> storage)
    {
        private const int Slots = 8;
        private const int Slot = 128;
        public const int Bytes = Slots * (Slot + 1);

        private readonly Span<byte> _storage = storage;
        private int _count;
        private int _next;

        public readonly bool Contains(ReadOnlySpan<byte> shape)
        {
            if (shape.Length > Slot) return false;
            for (int i = 0; i < _count; i++)
            {
                var slot = _storage.Slice(i * (Slot + 1), Slot + 1);
                if (slot[0] == shape.Length && slot.Slice(1, shape.Length).SequenceEqual(shape)) return true;
            }
            return false;
        }

        public void Add(ReadOnlySpan<byte> shape)
        {
            if (shape.Length > Slot) return;
            var slot = _storage.Slice(_next * (Slot + 1), Slot + 1);
            slot[0] = (byte)shape.Length;
            shape.CopyTo(slot[1..]);
            _next = (_next + 1) % Slots;
            if (_count < Slots) _count++;
        }
    }

    /// <summary>
    /// Writes the point's shape into <paramref name="destination"/>: the measurement as written, then per field
    /// 0xFF, its key as written and its type (0xFF is never part of UTF-8, so two different shapes never read the
    /// same). Returns its length, or 0 when it does not fit (such a point is checked field by field).
    /// </summary>
    internal static int Shape(ReadOnlySpan<byte> measurement, ReadOnlySpan<byte> fields, Span<byte> destination)
    {
        if (measurement.Length > destination.Length) return 0;
        measurement.CopyTo(destination);
        int n = measurement.Length;
        // Not FieldEnumerator: the field set came through the parser, so only the boundaries and each value's
        // type are needed (this walk is most of the check's cost).
        int p = 0;
        while (p < fields.Length)
        {
            int keyStart = p;
            while (true)
            {
                p += fields[p..].IndexOfAny((byte)'=', (byte)'\\');
                if (fields[p] == (byte)'=') break;
                p += 2;
            }
            int keyLength = p - keyStart;
            if (n + keyLength + 2 > destination.Length) return 0;
            destination[n++] = 0xFF;
            fields.Slice(keyStart, keyLength).CopyTo(destination[n..]);
            n += keyLength;
            p++;
            FieldType type;
            byte first = fields[p];
            if (first == (byte)'"')
            {
                p++;
                while (true)
                {
                    p += fields[p..].IndexOfAny((byte)'"', (byte)'\\');
                    if (fields[p] == (byte)'"') break;
                    p += 2;
                }
                p++;
                type = FieldType.String;
            }
            else
            {
                int comma = fields[p..].IndexOf((byte)',');
                p = comma < 0 ? fields.Length : p + comma;
                // As the parser validated it: a number ending in i or u, a boolean (t, f, true, False, …), a float.
                type = fields[p - 1] switch
                {
                    (byte)'i' => FieldType.Integer,
                    (byte)'u' => FieldType.Unsigned,
                    _ => first is (byte)'t' or (byte)'T' or (byte)'f' or (byte)'F' ? FieldType.Boolean : FieldType.Float,
                };
            }
            destination[n++] = (byte)type;
            p++; // the comma, or past the end
        }
        return n;
    }

    /// <summary>The point's line as stored, without its LF, cut at 256 bytes: for error messages.</summary>
    private static string LineText(PointBatch batch, int index)
    {
        var line = batch.Line(index);
        line = line[..^1];
        return line.Length <= 256 ? Encoding.UTF8.GetString(line) : Encoding.UTF8.GetString(line[..256]) + "…";
    }

    private static ReadOnlySpan<byte> Unescaped(ReadOnlySpan<byte> escaped, EscapeKind kind, Span<byte> scratch, out byte[]? rented)
    {
        rented = null;
        if (escaped.IndexOf((byte)'\\') < 0) return escaped;
        var buffer = escaped.Length <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(escaped.Length));
        return buffer[..Escaping.Unescape(escaped, kind, buffer)];
    }

    /// <summary>InfluxDB's name of a field type, as in its messages and <c>SHOW FIELD KEYS</c>.</summary>
    public static string Name(FieldType type) => type switch
    {
        FieldType.Float => "float",
        FieldType.Integer => "integer",
        FieldType.Unsigned => "unsigned",
        FieldType.String => "string",
        FieldType.Boolean => "boolean",
        _ => type.ToString(),
    };

    private static bool TryParseType(string? name, out FieldType type)
    {
        switch (name)
        {
            case "float": type = FieldType.Float; return true;
            case "integer": type = FieldType.Integer; return true;
            case "unsigned": type = FieldType.Unsigned; return true;
            case "string": type = FieldType.String; return true;
            case "boolean": type = FieldType.Boolean; return true;
            default: type = default; return false;
        }
    }

    /// <summary>Reads the database's policies and field types from InfluxDB; never throws.</summary>
    private async Task LoadAsync(DatabaseEntry entry)
    {
        using var timeout = new CancellationTokenSource(LoadTimeout);
        try
        {
            var name = Quote(entry.Name);
            var (result, status, error) = await _query(entry.Name, "SHOW RETENTION POLICIES ON " + name, timeout.Token).ConfigureAwait(false);
            using (result)
            {
                if (result is null)
                {
                    entry.LoadFailed(_time.GetUtcNow());
                    LogLoadFailed(entry.Name, status, error);
                    return;
                }
                var statement = result.RootElement.GetProperty("results")[0];
                if (statement.TryGetProperty("error", out var err))
                {
                    var text = err.GetString() ?? "";
                    if (text.StartsWith("database not found", StringComparison.Ordinal))
                    {
                        entry.Loaded(DatabaseState.Missing, _time.GetUtcNow());
                        return;
                    }
                    entry.LoadFailed(_time.GetUtcNow());
                    LogLoadFailed(entry.Name, 200, text);
                    return;
                }
                var policies = new List<(string Name, long Duration, bool Default)>();
                foreach (var series in Series(statement))
                {
                    var columns = Columns(series);
                    int n = columns.IndexOf("name"), d = columns.IndexOf("duration"), def = columns.IndexOf("default");
                    foreach (var row in series.GetProperty("values").EnumerateArray())
                    {
                        var duration = ParseGoDuration(row[d].GetString());
                        policies.Add((row[n].GetString()!, duration, def >= 0 && row[def].ValueKind == JsonValueKind.True));
                    }
                }
                var state = new DatabaseState(true, true, policies.Select(p => entry.Policy(p.Name, p.Duration)).ToArray(),
                    policies.FirstOrDefault(p => p.Default).Name);
                if (policies.Count > 0 && !await LoadFieldsAsync(entry, state, timeout.Token).ConfigureAwait(false))
                    return;
                entry.Loaded(state, _time.GetUtcNow());
                LogLoaded(entry.Name, policies.Count, state.Policies.Sum(p => p.FieldCount));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            entry.LoadFailed(_time.GetUtcNow());
            LogLoadFailed(entry.Name, 0, e.Message);
        }
    }

    private async Task<bool> LoadFieldsAsync(DatabaseEntry entry, DatabaseState state, CancellationToken cancellationToken)
    {
        var query = string.Join("; ", state.Policies.Select(p => $"SHOW FIELD KEYS ON {Quote(entry.Name)} FROM {Quote(p.Name)}./.*/"));
        var (result, status, error) = await _query(entry.Name, query, cancellationToken).ConfigureAwait(false);
        using (result)
        {
            if (result is null)
            {
                entry.LoadFailed(_time.GetUtcNow());
                LogLoadFailed(entry.Name, status, error);
                return false;
            }
            int i = 0;
            foreach (var statement in result.RootElement.GetProperty("results").EnumerateArray())
            {
                var policy = state.Policies[i++];
                foreach (var series in Series(statement))
                {
                    var measurement = policy.Measurement(Encoding.UTF8.GetBytes(series.GetProperty("name").GetString()!));
                    var columns = Columns(series);
                    int k = columns.IndexOf("fieldKey"), t = columns.IndexOf("fieldType");
                    foreach (var row in series.GetProperty("values").EnumerateArray())
                        if (TryParseType(row[t].GetString(), out var type))
                            measurement.Set(Encoding.UTF8.GetBytes(row[k].GetString()!), type);
                }
            }
        }
        return true;
    }

    /// <summary>A duration as InfluxDB prints it (Go's form: <c>168h0m0s</c>, <c>30m0s</c>, <c>0s</c>) in nanoseconds; 0 when unreadable.</summary>
    internal static long ParseGoDuration(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0;
        long total = 0;
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (i == start || !double.TryParse(text.AsSpan(start, i - start), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var n)) return 0;
            int u = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i])) i++;
            double unit = text.AsSpan(u, i - u) switch
            {
                "h" => 3_600e9,
                "m" => 60e9,
                "s" => 1e9,
                "ms" => 1e6,
                "us" or "\u00b5s" or "\u03bcs" => 1e3,
                "ns" => 1,
                _ => 0,
            };
            if (unit == 0) return 0;
            total += (long)(n * unit);
        }
        return total;
    }

    private static IEnumerable<JsonElement> Series(JsonElement statement) =>
        statement.TryGetProperty("series", out var series) ? series.EnumerateArray() : [];

    private static List<string?> Columns(JsonElement series) =>
        series.GetProperty("columns").EnumerateArray().Select(c => c.GetString()).ToList();

    /// <summary>An InfluxQL identifier in double quotes.</summary>
    private static string Quote(string identifier) => "\"" + identifier.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    [LoggerMessage(Level = LogLevel.Debug, Message = "Learned the schema of database {Database} from InfluxDB: {Policies} retention policies, {Fields} fields")]
    private partial void LogLoaded(string database, int policies, int fields);

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not learn the schema of database {Database} from InfluxDB ({Status}: {Error}); its writes are accepted unchecked until it answers")]
    private partial void LogLoadFailed(string database, int status, string? error);

    /// <summary>What is known of one database, replaced whole when learned again.</summary>
    private sealed record DatabaseState(bool Known, bool Exists, PolicyEntry[] Policies, string? DefaultName)
    {
        /// <summary>The policy InfluxDB gives a database it creates on a write (the sink's <c>CREATE DATABASE</c>).</summary>
        public const string CreatedPolicy = "autogen";

        public static readonly DatabaseState Unknown = new(false, false, [], null);
        public static readonly DatabaseState Missing = new(true, false, [], null);

        public PolicyEntry? DefaultPolicy => DefaultName is null ? null : Policy(DefaultName);

        public PolicyEntry? Policy(string name)
        {
            foreach (var p in Policies)
                if (p.Name == name) return p;
            return null;
        }
    }

    private sealed class DatabaseEntry(string name)
    {
        private readonly Lock _lock = new();
        private readonly ConcurrentDictionary<string, PolicyEntry> _policies = new(StringComparer.Ordinal);
        private Task? _load;
        private DateTimeOffset _retryAt;

        public string Name { get; } = name;
        public volatile DatabaseState State = DatabaseState.Unknown;
        public DateTimeOffset LoadedAt { get; private set; }
        public bool Loading => _load is { IsCompleted: false };

        /// <summary>Whether InfluxDB should be asked; <paramref name="blocking"/>: the write waits for the answer (first time).</summary>
        public bool NeedsLoad(DateTimeOffset now, out bool blocking)
        {
            var state = State;
            blocking = !state.Known && LoadedAt == default;
            if (Loading) return blocking;
            if (!state.Known) return now >= _retryAt;
            return now - LoadedAt >= RefreshAfter;
        }

        public Task StartLoad(DateTimeOffset now, InfluxSchema schema)
        {
            lock (_lock)
            {
                if (_load is { IsCompleted: false }) return _load;
                _retryAt = now + FailedRetry;
                return _load = schema.LoadAsync(this);
            }
        }

        public void Loaded(DatabaseState state, DateTimeOffset now)
        {
            LoadedAt = now;
            State = state;
        }

        public void LoadFailed(DateTimeOffset now)
        {
            // Keeps what was known before (a refresh that fails changes nothing); a first load leaves it unknown.
            if (LoadedAt == default) LoadedAt = now;
        }

        /// <summary>The policy entry of <paramref name="name"/>, kept across loads so that learned types survive them.</summary>
        public PolicyEntry Policy(string name, long durationNanoseconds)
        {
            var policy = _policies.GetOrAdd(name, static n => new PolicyEntry(n));
            policy.DurationNanoseconds = durationNanoseconds;
            return policy;
        }

        /// <summary>Where types are kept while InfluxDB's side is unknown ("" is the default policy, whatever its name).</summary>
        public PolicyEntry Unverified(string name) => _policies.GetOrAdd(name.Length == 0 ? "\0default" : name, static n => new PolicyEntry(n));

        /// <summary>A database the sink will create: its default policy keeps everything.</summary>
        public PolicyEntry Created() => Policy(DatabaseState.CreatedPolicy, 0);
    }

    internal sealed class PolicyEntry(string name)
    {
        /// <summary>Most shapes remembered per policy; past it, further shapes are checked field by field.</summary>
        private const int MaxShapes = 4096;

        private readonly ConcurrentDictionary<byte[], MeasurementEntry> _measurements = new(ByteKeyComparer.Instance);

        /// <summary>Shapes whose every field had its type when checked; dropped whenever a known type changes or goes.</summary>
        private volatile ConcurrentDictionary<byte[], bool> _shapes = new(ByteKeyComparer.Instance);

        public bool HasShape(ReadOnlySpan<byte> shape) => _shapes.GetAlternateLookup<ReadOnlySpan<byte>>().ContainsKey(shape);

        public void AddShape(ReadOnlySpan<byte> shape)
        {
            var shapes = _shapes;
            if (shapes.Count < MaxShapes) shapes.GetAlternateLookup<ReadOnlySpan<byte>>().TryAdd(shape, true);
        }

        /// <summary>A type changed or was forgotten: no shape may be trusted any more.</summary>
        public void ForgetShapes() => _shapes = new(ByteKeyComparer.Instance);

        public string Name { get; } = name;
        public long DurationNanoseconds { get; set; }
        public int FieldCount => _measurements.Values.Sum(m => m.Count);

        public MeasurementEntry Measurement(ReadOnlySpan<byte> name)
        {
            var lookup = _measurements.GetAlternateLookup<ReadOnlySpan<byte>>();
            if (lookup.TryGetValue(name, out var found)) return found;
            return _measurements.GetOrAdd(name.ToArray(), static (_, policy) => new MeasurementEntry(policy), this);
        }
    }

    internal sealed class MeasurementEntry(PolicyEntry policy)
    {
        private readonly ConcurrentDictionary<byte[], FieldType> _fields = new(ByteKeyComparer.Instance);

        public int Count => _fields.Count;

        /// <summary>The type <paramref name="key"/> has; the first to ask with a type it lacks sets it (<paramref name="added"/>).</summary>
        public FieldType TypeOf(ReadOnlySpan<byte> key, FieldType type, out bool added)
        {
            var lookup = _fields.GetAlternateLookup<ReadOnlySpan<byte>>();
            added = false;
            if (lookup.TryGetValue(key, out var known)) return known;
            added = lookup.TryAdd(key, type);
            return added ? type : lookup[key];
        }

        public void Set(byte[] key, FieldType type)
        {
            if (_fields.TryGetValue(key, out var known) && known == type) return;
            _fields[key] = type;
            policy.ForgetShapes();
        }

        public void Forget(byte[] key, FieldType type)
        {
            if (_fields.TryRemove(new KeyValuePair<byte[], FieldType>(key, type))) policy.ForgetShapes();
        }
    }

    /// <summary>A field type a checked batch taught the schema, taken back if the batch is not accepted.</summary>
    internal readonly record struct Learned(MeasurementEntry Measurement, byte[] Key, FieldType Type)
    {
        public void Undo() => Measurement.Forget(Key, Type);
    }

    private sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteKeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}

/// <summary>A point the schema check took out of a batch: its index in the batch as offered, InfluxDB's reason, and its line.</summary>
public readonly record struct SchemaDrop(int PointIndex, string Reason, string Line);

/// <summary>
/// What <see cref="InfluxSchema.CheckAsync"/> found: <see cref="Status"/> non-zero when the whole batch is refused
/// (with InfluxDB's status and <see cref="Message"/>), else the points taken out (<see cref="Dropped"/>, null when none).
/// </summary>
public readonly record struct SchemaVerdict
{
    internal SchemaVerdict(int status, string? message, IReadOnlyList<SchemaDrop>? dropped, List<InfluxSchema.Learned>? learned)
    {
        Status = status;
        Message = message;
        Dropped = dropped;
        _learned = learned;
    }

    private readonly List<InfluxSchema.Learned>? _learned;

    public static SchemaVerdict Pass => default;

    public int Status { get; }
    public string? Message { get; }
    public IReadOnlyList<SchemaDrop>? Dropped { get; }

    [MemberNotNullWhen(true, nameof(Message))]
    public bool Refused => Status != 0;

    internal static SchemaVerdict Refuse(int status, string message) => new(status, message, null, null);

    /// <summary>Forgets the field types this batch taught the schema: it was not accepted after all.</summary>
    public void Undo()
    {
        if (_learned is null) return;
        foreach (var l in _learned) l.Undo();
    }
}
