using Ingest.Configuration;
using Ingest.Sources.Http.Query;

namespace Ingest.Tests.Query;

/// <summary>
/// The statement splitter and judge behind /query: each query is cut into statements and each judged, and nothing
/// may pass for a read through quoting, comments, case, whitespace, regexes or a second statement.
/// </summary>
public class InfluxQlStatementsTests
{
    // R: read, S: SHOW DATABASES, C: CREATE DATABASE, A: needs admin. One letter per statement.
    public static TheoryData<string, string> Kinds => new()
    {
        { "SELECT * FROM cpu", "R" },
        { "select * from cpu", "R" },
        { "SeLeCt mean(v) FROM cpu WHERE time > now() - 1h GROUP BY time(1m)", "R" },
        { "SHOW MEASUREMENTS", "R" },
        { "SHOW DATABASES", "S" },
        { "show databases", "S" },
        { "SHOW RETENTION POLICIES ON mydb", "R" },
        { "SHOW TAG VALUES FROM cpu WITH KEY = \"host\"", "R" },
        { "SHOW TAG VALUES WITH KEY =~ /h;DROP DATABASE x/", "R" },
        { "EXPLAIN SELECT * FROM cpu", "R" },
        { "EXPLAIN ANALYZE SELECT * FROM cpu", "R" },
        { "CREATE DATABASE clidb", "C" },
        { "CREATE DATABASE \"my db\" WITH DURATION 1d REPLICATION 1 SHARD DURATION 1h NAME rp1", "C" },
        { "create database x", "C" },
        { "DROP DATABASE x", "A" },
        { "DROP MEASUREMENT cpu", "A" },
        { "DROP SERIES FROM cpu WHERE host = 'a'", "A" },
        { "DELETE FROM cpu WHERE time < 0", "A" },
        { "ALTER RETENTION POLICY autogen ON db DURATION 1d", "A" },
        { "CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 1", "A" },
        { "CREATE USER bob WITH PASSWORD 'pw'", "A" },
        { "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1m) END", "A" },
        { "CREATE SUBSCRIPTION s ON db.autogen DESTINATIONS ALL 'udp://h:1'", "A" },
        { "GRANT ALL TO bob", "A" },
        { "REVOKE READ ON db FROM bob", "A" },
        { "SET PASSWORD FOR bob = 'x'", "A" },
        { "KILL QUERY 36", "A" },
        { "DROP SHARD 1", "A" },
        { "SELECT * INTO other FROM cpu", "A" },
        { "select * into \"db\".\"rp\".:MEASUREMENT from /.*/", "A" },
        { "EXPLAIN SELECT * INTO x FROM cpu", "A" },
        { "EXPLAIN DROP DATABASE x", "A" },
        { "SOMETHING NEW", "A" },
        { "\"SELECT\" * FROM cpu", "A" }, // a quoted word is an identifier, never the keyword
        { "(SELECT 1)", "A" },
        // Several statements, each judged.
        { "SELECT 1; DROP DATABASE x", "RA" },
        { "SELECT 1;DROP DATABASE x;", "RA" },
        { "SHOW DATABASES;;; SELECT * FROM m", "SR" },
        { "CREATE DATABASE a; SHOW DATABASES", "CS" },
        // Quoting: a ; inside a string, identifier or regex does not end the statement.
        { "SELECT * FROM \"a;DROP DATABASE x\"", "R" },
        { "SELECT * FROM m WHERE t = 'a;DROP DATABASE x'", "R" },
        { "SELECT * FROM m WHERE t = 'it\\'s;DROP DATABASE x'", "R" },
        { "SELECT * FROM \"a\\\";DROP DATABASE x\"", "R" },
        { "SELECT * FROM m WHERE t =~ /a;DROP DATABASE x/", "R" },
        { "SELECT * FROM m WHERE t !~ /a\\/;DROP DATABASE x/", "R" },
        { "SELECT * FROM /a;DROP DATABASE x/", "R" },
        // ... but a quote that closes early leaves the rest as code.
        { "SELECT * FROM m WHERE t = 'a\\\\';DROP DATABASE x; SELECT 'b'", "RAR" },
        { "SELECT * FROM \"a\\\\\";DROP DATABASE x", "RA" },
        // Comments hide nothing.
        { "SELECT 1 /* ; */ ; DROP DATABASE x", "RA" },
        { "SELECT 1 -- ; DROP DATABASE x", "R" },
        { "SELECT 1 -- comment\n; DROP DATABASE x", "RA" },
        { "SELECT 1 --\r\n; DROP DATABASE x", "RA" },
        { "/* SELECT */ DROP DATABASE x", "A" },
        { "-- SELECT\nDROP DATABASE x", "A" },
        { "SELECT/**/1;/**/DROP/**/DATABASE/**/x", "RA" },
        { "SELECT * FROM m WHERE v = 1 /* ' */ ; DROP DATABASE x -- '", "RA" },
        { "SELECT * FROM m WHERE s = '/*' ; DROP DATABASE x ; SELECT '*/'", "RAR" },
        // Division is no regex: what follows is code.
        { "SELECT a / b FROM m; DROP DATABASE x; SELECT c / d FROM m", "RAR" },
        { "SELECT 4 / 2; DROP DATABASE x; SELECT 1 / 1", "RAR" },
        { "SELECT (a) / 2 FROM m; DROP DATABASE x; SELECT 1/1", "RAR" },
        // Whitespace and newlines between statements.
        { "\n\t SELECT 1\n;\n\tDROP\n\tDATABASE\n\tx\n", "RA" },
        // Without a separator it is one statement, which InfluxDB refuses whole ("found DROP, expected ;").
        { "SELECT 1\n\nDROP DATABASE x", "R" },
        { "SELECT * FROM cpu INTO x", "A" },
        { "SELECT * FROM (SELECT * INTO x FROM y)", "A" },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Each_statement_is_judged_on_its_own(string query, string expected)
    {
        var statements = InfluxQlStatements.Parse(query);
        var kinds = string.Concat(statements.Select(s => s.Kind switch
        {
            InfluxQlStatementKind.Read => 'R',
            InfluxQlStatementKind.ShowDatabases => 'S',
            InfluxQlStatementKind.CreateDatabase => 'C',
            _ => 'A',
        }));
        Assert.Equal(expected, kinds);
    }

    [Theory]
    [InlineData("SELECT 'abc", "unterminated string")]
    [InlineData("SELECT * FROM \"abc", "unterminated quoted identifier")]
    [InlineData("SELECT * FROM \"ab\nc\"; DROP DATABASE x", "cannot span lines")]
    [InlineData("SELECT 'ab\nc'; DROP DATABASE x", "cannot span lines")]
    [InlineData("SELECT 1 /* ; DROP DATABASE x", "unterminated /* comment")]
    [InlineData("SELECT * FROM m WHERE a =~ /x;DROP DATABASE y", "unterminated regex")]
    [InlineData("SELECT * FROM m WHERE a =~ /x\n/; DROP DATABASE y", "cannot span lines")]
    [InlineData("SELECT 'a\\x'; DROP DATABASE y", "bad escape")]
    public void Text_InfluxQL_cannot_read_is_an_error_not_a_guess(string query, string message)
    {
        var e = Assert.Throws<InfluxQlSyntaxException>(() => InfluxQlStatements.Parse(query));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("SELECT * FROM \"other\".\"autogen\".\"cpu\"", "other")]
    [InlineData("SELECT * FROM other..cpu", "other")]
    [InlineData("SELECT * FROM other.autogen./c.*/", "other")]
    [InlineData("SELECT * FROM mine..a, other..b", "mine,other")]
    [InlineData("SELECT * FROM (SELECT * FROM other..cpu)", "other")]
    [InlineData("SELECT * FROM (SELECT * FROM (SELECT * FROM mine..a)), other..b", "mine,other")]
    [InlineData("SELECT * FROM autogen.cpu", "")]
    [InlineData("SELECT * FROM cpu", "")]
    [InlineData("SHOW MEASUREMENTS ON other", "other")]
    [InlineData("SHOW TAG KEYS ON \"other\" FROM cpu", "other")]
    [InlineData("CREATE DATABASE other", "other")]
    [InlineData("DROP DATABASE \"other\"", "other")]
    [InlineData("CREATE RETENTION POLICY r ON other DURATION 1d REPLICATION 1", "other")]
    [InlineData("SELECT * INTO other.autogen.m FROM mine..m", "mine,other")]
    [InlineData("DELETE FROM other..cpu", "other")]
    public void The_databases_a_statement_names_are_found(string query, string expected)
    {
        var statement = Assert.Single(InfluxQlStatements.Parse(query));
        Assert.Equal(expected, string.Join(',', statement.Databases.Order(StringComparer.Ordinal)));
        Assert.False(statement.ReachesEveryDatabase);
    }

    [Theory]
    [InlineData("SHOW USERS")]
    [InlineData("SHOW SHARDS")]
    [InlineData("SHOW QUERIES")]
    [InlineData("SHOW STATS")]
    [InlineData("SHOW DIAGNOSTICS")]
    [InlineData("SHOW GRANTS FOR bob")]
    [InlineData("SHOW CONTINUOUS QUERIES")]
    [InlineData("SHOW DATABASES LIMIT 1")]
    [InlineData("CREATE USER bob WITH PASSWORD 'x'")]
    [InlineData("GRANT ALL PRIVILEGES TO bob")]
    [InlineData("KILL QUERY 1")]
    [InlineData("DROP SHARD 3")]
    [InlineData("SHOW MEASUREMENTS ON $db")]
    [InlineData("SHOW MEASUREMENTS ON *")]
    public void Statements_beyond_one_database_are_marked(string query) =>
        Assert.True(Assert.Single(InfluxQlStatements.Parse(query)).ReachesEveryDatabase);

    private static readonly InfluxOptions Influx = new();
    private static readonly ApiToken Reader = new("reader", Scopes.Read), Writer = new("writer", Scopes.Write), Admin = new("admin", Scopes.Admin);
    private static readonly ApiToken Team = new("team", Scopes.All, new HashSet<string> { "mine" });

    private static string? Refusal(ApiToken token, string query, string db = "", string parameters = "") =>
        InfluxQlStatements.Refusal(token, InfluxQlStatements.Parse(query), db, parameters, Influx);

    [Fact]
    public void A_read_token_reads_and_is_refused_everything_else_naming_the_statement_and_scope()
    {
        Assert.Null(Refusal(Reader, "SELECT * FROM cpu; SHOW DATABASES; SHOW MEASUREMENTS"));
        var refusal = Refusal(Reader, "SELECT 1 /* ; */ ; drop database x");
        Assert.Equal("statement 2 of 2 (drop database x) needs the admin scope, which token 'reader' lacks", refusal);
        Assert.Contains("statement 1 of 1 (CREATE DATABASE x)", Refusal(Reader, "CREATE DATABASE x"));
    }

    [Fact]
    public void A_write_token_creates_databases_and_nothing_else()
    {
        Assert.Null(Refusal(Writer, "CREATE DATABASE x WITH DURATION 1d"));
        Assert.Contains("needs the read scope", Refusal(Writer, "CREATE DATABASE x; SELECT 1"));
        Assert.Contains("needs the admin scope", Refusal(Writer, "DROP DATABASE x"));
    }

    [Fact]
    public void An_admin_token_may_do_everything_including_create_database()
    {
        Assert.Null(Refusal(Admin, "CREATE DATABASE x; DROP DATABASE x; SELECT * INTO a FROM b; SHOW USERS"));
    }

    [Fact]
    public void The_summary_in_a_refusal_never_carries_a_string_such_as_a_password()
    {
        var refusal = Refusal(Writer, "CREATE USER bob WITH PASSWORD 'hunter2'");
        Assert.DoesNotContain("hunter2", refusal);
        Assert.DoesNotContain("hunter2", Refusal(Writer, "SET PASSWORD FOR bob = 'hunter2'"));
    }

    [Theory]
    [InlineData("SELECT * FROM cpu", "mine", null)]
    [InlineData("SELECT * FROM cpu", "other", "not granted database \"other\"")]
    [InlineData("SELECT * FROM other..cpu", "mine", "names database \"other\"")]
    [InlineData("SELECT * FROM \"other\".\"autogen\".\"cpu\"", "", "names database \"other\"")]
    [InlineData("SELECT * FROM (SELECT * FROM other..cpu)", "mine", "names database \"other\"")]
    [InlineData("SELECT * FROM mine..cpu; SELECT * FROM other..cpu", "mine", "statement 2 of 2")]
    [InlineData("SHOW MEASUREMENTS ON other", "mine", "names database \"other\"")]
    [InlineData("SHOW MEASUREMENTS ON mine", "", null)]
    [InlineData("SHOW DATABASES", "", null)]
    [InlineData("CREATE DATABASE mine", "", null)]
    [InlineData("CREATE DATABASE Mine", "", "names database \"Mine\"")]
    [InlineData("CREATE DATABASE other", "", "names database \"other\"")]
    [InlineData("DROP DATABASE other", "mine", "names database \"other\"")]
    [InlineData("SHOW USERS", "mine", "reaches beyond")]
    [InlineData("SHOW SHARDS", "mine", "reaches beyond")]
    [InlineData("KILL QUERY 1", "mine", "reaches beyond")]
    public void A_token_limited_to_databases_touches_only_those(string query, string db, string? refusal)
    {
        var actual = Refusal(Team, query, db);
        if (refusal is null) Assert.Null(actual);
        else Assert.Contains(refusal, actual);
    }

    [Fact]
    public void Bound_parameters_are_refused_to_a_token_limited_to_databases()
    {
        Assert.Contains("bound parameters", Refusal(Team, "SELECT * FROM $m", "mine", "{\"m\":{\"identifier\":\"x\"}}"));
        Assert.Null(Refusal(Reader, "SELECT * FROM $m", "mine", "{\"m\":{\"identifier\":\"x\"}}"));
    }

    [Theory]
    [InlineData("CREATE DATABASE x", "x", "x")]
    [InlineData("DROP DATABASE x", "d", "x")]
    [InlineData("DROP MEASUREMENT cpu", "d", "d")]
    [InlineData("DROP MEASUREMENT cpu", "", null)]
    [InlineData("DELETE FROM other..cpu", "d", "other")]
    [InlineData("DROP SHARD 1", "d", null)]
    [InlineData("ALTER RETENTION POLICY autogen ON x DURATION 1d", "d", "x")]
    public void Schema_changes_name_the_database_they_changed(string query, string db, string? expected)
    {
        var statement = Assert.Single(InfluxQlStatements.Parse(query));
        Assert.True(statement.ChangesSchema);
        Assert.Equal(expected, statement.SchemaDatabase(db));
    }

    [Theory]
    [InlineData("SELECT * FROM cpu")]
    [InlineData("SHOW DATABASES")]
    [InlineData("CREATE USER a WITH PASSWORD 'b'")]
    [InlineData("SELECT * INTO a FROM b")]
    public void Other_statements_change_no_schema(string query) =>
        Assert.False(Assert.Single(InfluxQlStatements.Parse(query)).ChangesSchema);
}
