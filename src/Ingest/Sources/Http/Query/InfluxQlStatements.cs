using Ingest.Configuration;

namespace Ingest.Sources.Http.Query;

public enum InfluxQlStatementKind
{
    /// <summary>SELECT without INTO, EXPLAIN [ANALYZE] of one, every SHOW but SHOW DATABASES.</summary>
    Read,
    /// <summary>SHOW DATABASES: a read whose answer is cut to the caller's databases.</summary>
    ShowDatabases,
    /// <summary>CREATE DATABASE (with or without WITH …): clients create their database before writing.</summary>
    CreateDatabase,
    /// <summary>Everything else, including what could not be recognised: it may change or delete.</summary>
    Change,
}

/// <summary>One statement of a <c>/query</c> request as the daemon judged it.</summary>
public sealed record InfluxQlStatement(
    int Number,
    string Summary,
    InfluxQlStatementKind Kind,
    IReadOnlyList<string> Databases,
    bool ReachesEveryDatabase,
    bool UsesBoundParameters,
    bool ChangesSchema,
    bool SchemaDatabaseUnknown = false)
{
    /// <summary>The scope a token needs: read, write (CREATE DATABASE; admin also does), or admin.</summary>
    public Scopes Needs => Kind switch
    {
        InfluxQlStatementKind.Read or InfluxQlStatementKind.ShowDatabases => Scopes.Read,
        InfluxQlStatementKind.CreateDatabase => Scopes.Write,
        _ => Scopes.Admin,
    };

    public bool AllowedFor(ApiToken token) =>
        token.Allows(Needs) || (Kind == InfluxQlStatementKind.CreateDatabase && token.Allows(Scopes.Admin));

    /// <summary>
    /// The database whose schema this statement may have changed, when it went through: the one it names, else
    /// the request's <c>db</c>; null when that cannot be told (DROP SHARD, several databases, no <c>db</c>).
    /// </summary>
    public string? SchemaDatabase(string defaultDatabase) =>
        SchemaDatabaseUnknown ? null
        : Databases.Count == 1 ? Databases[0]
        : Databases.Count == 0 && defaultDatabase.Length > 0 ? defaultDatabase
        : null;
}

/// <summary>
/// Splits an InfluxQL query into its statements and judges each: what kind it is (so which scope it needs), which
/// databases it names (<c>ON db</c>, <c>db.rp.m</c> and <c>db..m</c> in FROM and INTO, also inside subqueries,
/// <c>CREATE/DROP DATABASE name</c>), whether it reaches beyond any one database (users, grants, shards, running
/// queries, statistics), and whether it may change the schema. Anything not recognised is a change. Statements
/// are found with <see cref="InfluxQlTokenizer"/>, so a <c>;</c> inside a string, identifier, regex or comment
/// never splits one.
/// </summary>
public static class InfluxQlStatements
{
    /// <summary>The statements, numbered from 1 as InfluxDB numbers them (empty ones between <c>;</c> are skipped).</summary>
    /// <exception cref="InfluxQlSyntaxException">An unterminated quote, comment or regex, or a bad escape.</exception>
    public static IReadOnlyList<InfluxQlStatement> Parse(string text)
    {
        var tokens = InfluxQlTokenizer.Tokenize(text);
        var statements = new List<InfluxQlStatement>();
        var start = 0;
        for (var i = 0; i <= tokens.Count; i++)
        {
            if (i < tokens.Count && tokens[i].Kind != InfluxQlTokenKind.Semicolon) continue;
            if (i > start) statements.Add(Classify(statements.Count + 1, tokens.GetRange(start, i - start)));
            start = i + 1;
        }
        return statements;
    }

    /// <summary>Why <paramref name="token"/> may not run these statements, or null when it may run them all.</summary>
    public static string? Refusal(ApiToken token, IReadOnlyList<InfluxQlStatement> statements, string db, string boundParameters, InfluxOptions influx)
    {
        var limited = token.Databases is not null;
        if (limited && db.Length > 0 && !token.MayUse(influx.DatabaseOf(db)))
            return $"token '{token.Name}' is not granted database \"{db}\"";
        foreach (var s in statements)
        {
            var which = $"statement {s.Number} of {statements.Count} ({s.Summary})";
            if (!s.AllowedFor(token))
                return $"{which} needs the {s.Needs.ToString().ToLowerInvariant()} scope, which token '{token.Name}' lacks";
            if (!limited) continue;
            if (s.ReachesEveryDatabase)
                return $"{which} reaches beyond the databases token '{token.Name}' is granted";
            if (s.UsesBoundParameters && boundParameters.Length > 0)
                return $"{which} uses bound parameters, which cannot be checked against the databases token '{token.Name}' is granted";
            foreach (var name in s.Databases)
            {
                if (!token.MayUse(influx.DatabaseOf(name)))
                    return $"{which} names database \"{name}\", which token '{token.Name}' is not granted";
            }
        }
        return null;
    }

    // SHOW statements that read one database (the one named by ON, or db); every other SHOW reaches them all.
    private static readonly HashSet<string> DatabaseShows = new(StringComparer.OrdinalIgnoreCase)
    {
        "MEASUREMENTS", "MEASUREMENT", "SERIES", "TAG", "FIELD", "RETENTION",
    };

    private static InfluxQlStatement Classify(int number, List<InfluxQlToken> t)
    {
        string Word(int k) => k < t.Count && t[k].Kind == InfluxQlTokenKind.Word ? t[k].Text.ToUpperInvariant() : "";
        var summary = string.Join(' ', t.Take(5));
        var bound = t.Any(x => x.Kind == InfluxQlTokenKind.BoundParameter);
        var databases = new List<string>();
        var everyDatabase = References(t, databases);
        var hasInto = t.Any(x => x.IsKeyword("INTO"));

        InfluxQlStatement Make(InfluxQlStatementKind kind, bool serverWide = false, bool schema = false, bool schemaUnknown = false) =>
            new(number, summary, kind, databases, everyDatabase || serverWide, bound, schema, schemaUnknown);

        InfluxQlStatement NamedDatabase(InfluxQlStatementKind kind)
        {
            if (t.Count > 2 && t[2].IsName) databases.Add(t[2].Text);
            else everyDatabase = true;
            return Make(kind, schema: true);
        }

        switch (Word(0))
        {
            case "SELECT":
                return Make(hasInto ? InfluxQlStatementKind.Change : InfluxQlStatementKind.Read);
            case "EXPLAIN":
                var k = Word(1) == "ANALYZE" ? 2 : 1;
                return Make(Word(k) == "SELECT" && !hasInto ? InfluxQlStatementKind.Read : InfluxQlStatementKind.Change);
            case "SHOW":
                if (Word(1) == "DATABASES" && t.Count == 2) return Make(InfluxQlStatementKind.ShowDatabases);
                return Make(InfluxQlStatementKind.Read, serverWide: !DatabaseShows.Contains(Word(1)));
            case "CREATE" when Word(1) == "DATABASE":
                return NamedDatabase(InfluxQlStatementKind.CreateDatabase);
            case "DROP" when Word(1) == "DATABASE":
                return NamedDatabase(InfluxQlStatementKind.Change);
            case "CREATE" or "ALTER" or "DROP" when Word(1) == "RETENTION":
                return Make(InfluxQlStatementKind.Change, schema: true);
            case "DROP" when Word(1) is "MEASUREMENT" or "SERIES":
            case "DELETE":
                return Make(InfluxQlStatementKind.Change, schema: true);
            case "DROP" when Word(1) == "SHARD":
                return Make(InfluxQlStatementKind.Change, serverWide: true, schema: true, schemaUnknown: true);
            case "CREATE" or "DROP" when Word(1) is "CONTINUOUS" or "SUBSCRIPTION":
                return Make(InfluxQlStatementKind.Change);
            default:
                // Users, grants, passwords, KILL QUERY, and anything unknown: admin, and not within one database.
                return Make(InfluxQlStatementKind.Change, serverWide: true);
        }
    }

    /// <summary>
    /// Adds the databases the statement names to <paramref name="databases"/>; true when it names them in a way
    /// that cannot be checked (<c>ON</c> followed by something other than a name, a bound parameter in a database's place).
    /// </summary>
    private static bool References(List<InfluxQlToken> t, List<string> databases)
    {
        var unknown = false;
        for (var k = 0; k < t.Count; k++)
        {
            if (t[k].IsKeyword("ON"))
            {
                var segments = Segments(t, k + 1, out _);
                unknown |= Add(segments.Count > 0 ? segments[0] : null);
            }
            else if (t[k].IsKeyword("FROM") || t[k].IsKeyword("INTO"))
            {
                // A list of sources: names, and subqueries whose own FROM is visited by this same loop.
                var j = k + 1;
                while (j < t.Count)
                {
                    if (t[j].IsSymbol("("))
                    {
                        j = AfterParenthesis(t, j);
                    }
                    else
                    {
                        var segments = Segments(t, j, out j);
                        if (segments.Count >= 3 && segments[0] is { } db) unknown |= Add(db);
                    }
                    if (j < t.Count && t[j].IsSymbol(",")) j++;
                    else break;
                }
            }
        }
        return unknown;

        bool Add(InfluxQlToken? name)
        {
            if (name is not { IsName: true } n) return true;
            databases.Add(n.Text);
            return false;
        }
    }

    /// <summary>A dotted name from <paramref name="start"/> (<c>a.b.c</c>, <c>a..c</c>); an empty part is null.</summary>
    private static List<InfluxQlToken?> Segments(List<InfluxQlToken> t, int start, out int end)
    {
        var segments = new List<InfluxQlToken?>();
        var j = start;
        while (true)
        {
            if (j < t.Count && (t[j].IsName || t[j].Kind is InfluxQlTokenKind.Regex or InfluxQlTokenKind.BoundParameter))
                segments.Add(t[j++]);
            else
                segments.Add(null);
            if (j < t.Count && t[j].IsSymbol(".")) j++;
            else break;
        }
        end = j;
        if (segments is [null]) segments.Clear();
        return segments;
    }

    private static int AfterParenthesis(List<InfluxQlToken> t, int open)
    {
        var depth = 0;
        for (var j = open; j < t.Count; j++)
        {
            if (t[j].IsSymbol("(")) depth++;
            else if (t[j].IsSymbol(")") && --depth == 0) return j + 1;
        }
        return t.Count;
    }
}
