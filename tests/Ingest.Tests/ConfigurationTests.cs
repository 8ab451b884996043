using Ingest.Configuration;
using Ingest.Graph;
using Ingest.Hosting;
using Microsoft.Extensions.Configuration;

namespace Ingest.Tests;

public class ConfigurationTests
{
    // Later pairs override earlier ones with the same key, as a later configuration source would.
    private static IngestOptions Load(params (string Key, string? Value)[] pairs)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in pairs) values[k] = v;
        return IngestOptionsLoader.Load(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    [Fact]
    public void Empty_configuration_gives_documented_defaults()
    {
        var o = Load();
        Assert.Equal(new Uri("http://127.0.0.1:8086"), o.Influx.Url);
        Assert.Equal(1, o.Influx.ApiVersion);
        Assert.Equal("metrics", o.Influx.Database);
        Assert.Equal(5000, o.Influx.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(1), o.Influx.FlushInterval);
        Assert.Equal(4, o.Influx.MaxConcurrentRequests);
        Assert.False(o.Influx.Gzip);
        Assert.Equal(1_000_000, o.Buffer.Capacity);
        Assert.Equal(25_000_000, o.Http.MaxBodySize);
        Assert.Equal(100_000_000, o.Http.BodyBytesInFlight);
        Assert.Equal(TimeSpan.FromSeconds(10), o.Http.BodyReadTimeout);
        Assert.False(o.Auth.Enabled);
        Assert.False(o.Redis.Enabled);
    }

    [Theory]
    [InlineData("Influx:BatchSize", "abc")]
    [InlineData("Influx:BatchSize", "0")]
    [InlineData("Influx:ApiVersion", "3")]
    [InlineData("Influx:Url", "localhost:8086")]
    [InlineData("Influx:FlushInterval", "soon")]
    [InlineData("Influx:Gzip", "maybe")]
    [InlineData("Buffer:Capacity", "-5")]
    [InlineData("Http:MaxBodySize", "12")]
    [InlineData("Http:MaxBodyBytesInFlight", "49999999")]
    [InlineData("Http:MaxBodyBytesInFlight", "-1")]
    [InlineData("Http:BodyReadTimeout", "0s")]
    public void Invalid_value_fails_naming_key_and_value(string key, string value)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load((key, value)));
        Assert.Contains(key, e.Message);
        Assert.Contains($"'{value}'", e.Message);
    }

    [Fact]
    public void Bodies_in_flight_default_to_four_largest_bodies_and_may_be_set_down_to_two()
    {
        Assert.Equal(4_000_000, Load(("Http:MaxBodySize", "1000000")).Http.BodyBytesInFlight);
        Assert.Equal(2_000_000, Load(("Http:MaxBodySize", "1000000"), ("Http:MaxBodyBytesInFlight", "2000000")).Http.BodyBytesInFlight);
    }

    private const string SomeHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    [Theory]
    [InlineData("Auth:Tokens:0:Scopes:0", "superuser", "Auth:Tokens:0:Scopes:0 = 'superuser'")]
    [InlineData("Auth:Tokens:0:Role", "admin", "Auth:Tokens:0:Role = 'admin'")]
    [InlineData("Wal:SyncMode", "sometimes", "Wal:SyncMode = 'sometimes'")]
    [InlineData("Wal:MaxBytes", "1048576", "Wal:MaxBytes = '1048576'")]
    [InlineData("Wal:FullPolicy", "drop-newest", "Wal:FullPolicy = 'drop-newest'")]
    [InlineData("DeadLetter:AfterAttempts", "0", "DeadLetter:AfterAttempts = '0'")]
    [InlineData("DeadLetter:AfterAge", "forever", "DeadLetter:AfterAge = 'forever'")]
    [InlineData("DeadLetter:Retries", "3", "DeadLetter:Retries")]
    public void Bad_token_and_log_settings_name_their_key(string key, string value, string expected)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Auth:Tokens:0:Name", "t"), ("Auth:Tokens:0:Sha256", SomeHash), (key, value)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Token_scopes_are_read_and_a_token_without_scopes_may_write()
    {
        var o = Load(("Auth:Enabled", "true"),
            ("Auth:Tokens:0:Name", "old"), ("Auth:Tokens:0:Sha256", SomeHash),
            ("Auth:Tokens:1:Name", "ops"), ("Auth:Tokens:1:Sha256", SomeHash.Replace('9', '8')), ("Auth:Tokens:1:Scopes:0", "admin"), ("Auth:Tokens:1:Scopes:1", "WRITE"));
        var old = o.Auth.Tokens[SomeHash];
        Assert.Equal(("old", Scopes.Write), (old.Name, old.Scopes));
        Assert.False(old.Allows(Scopes.Read));
        var ops = o.Auth.Tokens[SomeHash.Replace('9', '8')];
        Assert.Equal(Scopes.Admin | Scopes.Write, ops.Scopes);
        Assert.True(ops.Allows(Scopes.Read));
        Assert.True(ops.Allows(Scopes.Write));
    }

    [Fact]
    public void Token_databases_are_read_and_without_them_a_token_may_use_every_database()
    {
        var o = Load(("Auth:Tokens:0:Name", "all"), ("Auth:Tokens:0:Sha256", SomeHash),
            ("Auth:Tokens:1:Name", "team"), ("Auth:Tokens:1:Sha256", SomeHash.Replace('9', '8')), ("Auth:Tokens:1:Databases:0", "prod"), ("Auth:Tokens:1:Databases:1", " Lab "),
            ("Auth:Tokens:2:Name", "one"), ("Auth:Tokens:2:Sha256", SomeHash.Replace('9', '7')), ("Auth:Tokens:2:Databases", "solo"));
        var all = o.Auth.Tokens[SomeHash];
        Assert.Null(all.Databases);
        Assert.True(all.MayUse("anything"));
        var team = o.Auth.Tokens[SomeHash.Replace('9', '8')];
        Assert.Equal(["Lab", "prod"], team.Databases!.Order(StringComparer.Ordinal));
        Assert.True(team.MayUse("prod"));
        Assert.False(team.MayUse("Prod")); // InfluxDB's database names are case-sensitive
        Assert.False(team.MayUse("staging"));
        Assert.Equal(["solo"], o.Auth.Tokens[SomeHash.Replace('9', '7')].Databases!);
    }

    [Theory]
    [InlineData("Auth:Tokens:0:Databases:0", "prod/autogen", "Auth:Tokens:0:Databases:0 = 'prod/autogen'")]
    [InlineData("Auth:Tokens:0:Databases:1", " ", "Auth:Tokens:0:Databases:1 = ' '")]
    public void Bad_token_databases_name_their_key(string key, string value, string expected)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Auth:Tokens:0:Name", "t"), ("Auth:Tokens:0:Sha256", SomeHash), ("Auth:Tokens:0:Databases:0", "ok"), (key, value)));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(1, "metrics/autogen", "metrics/autogen")]
    [InlineData(2, "metrics/autogen", "metrics")]
    [InlineData(2, "metrics", "metrics")]
    public void The_database_a_target_names_depends_on_the_sink_api(int api, string target, string database) =>
        Assert.Equal(database, new InfluxOptions { ApiVersion = api }.DatabaseOf(target));

    [Fact]
    public void Shipped_config_file_states_the_defaults()
    {
        // config/ingest.json documents every key at its default: it must load to the same options.
        var file = Path.Combine(AppContext.BaseDirectory, "ingest.json");
        var fromFile = IngestOptionsLoader.Load(new ConfigurationBuilder().AddJsonFile(file).Build());
        var defaults = Load();
        Assert.Equal(defaults.Influx, fromFile.Influx);
        Assert.Equal(defaults.Buffer, fromFile.Buffer);
        Assert.Equal(defaults.Http, fromFile.Http);
        Assert.Equal(defaults.Redis, fromFile.Redis);
        Assert.Equal(defaults.Auth.Enabled, fromFile.Auth.Enabled);
        Assert.Equal(defaults.Auth.AllowAnonymousNonLoopback, fromFile.Auth.AllowAnonymousNonLoopback);
        Assert.Equal(defaults.Auth.ProtectMetrics, fromFile.Auth.ProtectMetrics);
        Assert.Equal(defaults.Wal, fromFile.Wal);
        Assert.Equal(defaults.DeadLetter, fromFile.DeadLetter);
        Assert.Equal(defaults.Live, fromFile.Live);
        Assert.Equal(defaults.Feed with { AllowedOrigins = [] }, fromFile.Feed with { AllowedOrigins = [] });
        Assert.Equal(defaults.Feed.AllowedOrigins, fromFile.Feed.AllowedOrigins);
        Assert.Equal(defaults.Auth.RateLimitPerSecond, fromFile.Auth.RateLimitPerSecond);
        Assert.Equal(defaults.Auth.RateLimitBurst, fromFile.Auth.RateLimitBurst);
        Assert.Equal(defaults.Pipeline.RawExclude, fromFile.Pipeline.RawExclude);
        Assert.Equal(defaults.Pipeline with { RawExclude = [] }, fromFile.Pipeline with { RawExclude = [] });
        Assert.Equal(defaults.Thresholds.Measurement, fromFile.Thresholds.Measurement);
        Assert.Equal(defaults.Thresholds.StateFlushInterval, fromFile.Thresholds.StateFlushInterval);
        Assert.Empty(fromFile.Thresholds.Rules);
        Assert.Empty(fromFile.Downsample.Tiers);
        Assert.Equal(defaults.WindowSnapshots, fromFile.WindowSnapshots);
    }

    [Theory]
    [InlineData("Downsample:Tiers:0:Interval", "0s", "Downsample:Tiers:0:Interval")]
    [InlineData("Downsample:Tiers:0:Interval", "500ms", "Downsample:Tiers:0:Interval = '500ms': must be at least 1s")]
    [InlineData("Downsample:Tiers:0:Aggregates:0", "p42", "Downsample:Tiers:0:Aggregates:0 = 'p42'")]
    [InlineData("Pipeline:DerivedQueuePolicy", "sometimes", "Pipeline:DerivedQueuePolicy = 'sometimes'")]
    [InlineData("Downsample:SnapshotInterval", "50ms", "Downsample:SnapshotInterval = '50ms'")]
    [InlineData("Downsample:SnapshotInterval", "often", "Downsample:SnapshotInterval = 'often'")]
    [InlineData("Thresholds:Rules:0:Warn", "95", "Thresholds:Rules:0:Warn = '95'")]
    [InlineData("Thresholds:Rules:0:For", "a while", "Thresholds:Rules:0:For = 'a while'")]
    [InlineData("Thresholds:Rules:0:Direction", "sideways", "Thresholds:Rules:0:Direction = 'sideways'")]
    public void Bad_transform_settings_name_their_key(string key, string value, string expected)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(
            ("Downsample:Tiers:0:Name", "1m"), ("Downsample:Tiers:0:Interval", "1m"),
            ("Thresholds:Rules:0:Name", "r"), ("Thresholds:Rules:0:Measurement", "cpu"), ("Thresholds:Rules:0:Field", "usage"),
            ("Thresholds:Rules:0:Crit", "90"),
            (key, value)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Transform_settings_are_read_into_tiers_and_rules()
    {
        var o = Load(
            ("Downsample:Tiers:0:Name", "1m"), ("Downsample:Tiers:0:Interval", "1m"), ("Downsample:Tiers:0:AllowedLateness", "2m"),
            ("Downsample:Tiers:0:Aggregates:0", "mean"), ("Downsample:Tiers:0:Aggregates:1", "p99"),
            ("Downsample:Tiers:1:Name", "1h"), ("Downsample:Tiers:1:Interval", "1h"), ("Downsample:Tiers:1:Source", "1m"),
            ("Thresholds:Rules:0:Name", "r"), ("Thresholds:Rules:0:Measurement", "cpu"), ("Thresholds:Rules:0:Field", "usage"),
            ("Thresholds:Rules:0:Direction", "below"), ("Thresholds:Rules:0:Warn", "20"), ("Thresholds:Rules:0:For", "30s"),
            ("Thresholds:Rules:0:Tags:host", "web-*"), ("Pipeline:RawExclude:0", "debug_*"));
        Assert.Equal(2, o.Downsample.Tiers.Count);
        Assert.Equal(TimeSpan.FromMinutes(2), o.Downsample.Tiers[0].AllowedLateness);
        Assert.Equal(["mean", "p99"], o.Downsample.Tiers[0].Aggregates);
        Assert.Equal("1m", o.Downsample.Tiers[1].Source);
        var rule = Assert.Single(o.Thresholds.Rules);
        Assert.Equal(Ingest.Transforms.Thresholds.ThresholdDirection.Below, rule.Direction);
        Assert.Equal(TimeSpan.FromSeconds(30), rule.For);
        Assert.Equal("web-*", Assert.Single(rule.Tags).Pattern);
        Assert.Equal(["debug_*"], o.Pipeline.RawExclude);
    }

    [Fact]
    public void Misspelt_key_fails_instead_of_being_ignored()
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Influx:BatchSise", "100")));
        Assert.Contains("Influx:BatchSise", e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:6379,bogus=1", "bogus")]
    [InlineData("127.0.0.1:6379,connectTimeout=soon", "connectTimeout")]
    [InlineData("abortConnect=false", "no endpoint given")]
    public void Redis_configuration_the_client_cannot_take_stops_the_start(string value, string reason)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Redis:Configuration", value)));
        Assert.Contains($"Redis:Configuration = '{value}'", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void A_bad_Redis_configuration_is_reported_without_its_password()
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Redis:Configuration", "127.0.0.1:6379,password=s3cret,bogus=1")));
        Assert.DoesNotContain("s3cret", e.Message);
        Assert.Contains("password=***", e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:6379")]
    [InlineData("127.0.0.1:6379,protocol=resp2,password=x,abortConnect=true")]
    public void Redis_configuration_the_client_takes_is_kept_as_written(string value) =>
        Assert.Equal(value, Load(("Redis:Configuration", value)).Redis.Configuration);

    [Fact]
    public void Redis_key_prefix_defaults_to_ingest_and_names_every_key()
    {
        Assert.Equal("ingest:status", Load().Redis.StatusKey);
        var redis = Load(("Redis:Configuration", "127.0.0.1:6379"), ("Redis:KeyPrefix", "site2:")).Redis;
        Assert.Equal(["site2:live:", "site2:live:series", "site2:status", "site2:alerts:state", "site2:alerts:watermark"],
            [redis.LiveKeyPrefix, redis.LiveIndexKey, redis.StatusKey, redis.AlertStateKey, redis.AlertWatermarkKey]);
    }

    [Theory]
    [InlineData("my prefix:")]
    [InlineData("a\u0001b")]
    public void A_Redis_key_prefix_with_spaces_or_control_characters_stops_the_start(string value)
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Redis:KeyPrefix", value)));
        Assert.Contains("Redis:KeyPrefix", e.Message);
    }

    [Fact]
    public void Buffer_smaller_than_a_batch_is_refused()
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Buffer:Capacity", "100"), ("Influx:BatchSize", "1000")));
        Assert.Contains("Buffer:Capacity", e.Message);
    }

    [Fact]
    public void Api_v2_requires_org()
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Influx:ApiVersion", "2")));
        Assert.Contains("Influx:Org", e.Message);
    }

    [Fact]
    public void Auth_token_must_be_a_sha256_digest()
    {
        var e = Assert.Throws<ConfigurationError>(() => Load(("Auth:Enabled", "true"), ("Auth:Tokens:0:Name", "telegraf"), ("Auth:Tokens:0:Sha256", "secret")));
        Assert.Contains("Auth:Tokens:0:Sha256", e.Message);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1s", 1000)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("00:00:03", 3000)]
    public void Durations_accept_operator_spellings(string text, int ms)
    {
        Assert.True(DurationParser.TryParse(text, out var v));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), v);
    }

    [Fact]
    public void Environment_overrides_file_and_command_line_overrides_environment()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var file = Path.Combine(dir.FullName, "ingest.json");
            File.WriteAllText(file, """{ "Influx": { "Database": "fromfile", "BatchSize": 10, "Org": "fromfile" } }""");
            Environment.SetEnvironmentVariable("INGEST_Influx__BatchSize", "20");
            Environment.SetEnvironmentVariable("INGEST_Influx__Org", "fromenv");
            var config = new ConfigurationManager();
            var args = new[] { "--config", file, "--Influx:Org=fromargs" };
            Assert.Equal(file, ConfigurationSetup.ResolveConfigFile(args, out var error));
            Assert.Null(error);
            ConfigurationSetup.Apply(config, args, file);
            var o = IngestOptionsLoader.Load(config);
            Assert.Equal("fromfile", o.Influx.Database);
            Assert.Equal(20, o.Influx.BatchSize);
            Assert.Equal("fromargs", o.Influx.Org);
            Assert.Equal(ConfigurationSetup.DefaultUrls, config["urls"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("INGEST_Influx__BatchSize", null);
            Environment.SetEnvironmentVariable("INGEST_Influx__Org", null);
            dir.Delete(true);
        }
    }

    [Fact]
    public void Missing_explicit_config_file_is_an_error()
    {
        ConfigurationSetup.ResolveConfigFile(["--config", "/nonexistent/ingest.json"], out var error);
        Assert.Contains("/nonexistent/ingest.json", error);
    }
}

public class ExposureTests
{
    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Theory]
    [InlineData("http://127.0.0.1:8186")]
    [InlineData("http://127.0.0.2:8186")]
    [InlineData("http://localhost:8186")]
    [InlineData("http://LOCALHOST:8186")]
    [InlineData("http://[::1]:8186")]
    [InlineData("http://[::ffff:127.0.0.1]:8186")]
    [InlineData("http://127.0.0.1:8186;http://[::1]:8187")]
    [InlineData("http://unix:/run/ingest.sock")]
    public void Anonymous_access_on_loopback_is_fine(string urls) =>
        Exposure.CheckConfigured(new AuthOptions(), Config(("urls", urls)));

    [Theory]
    [InlineData("http://0.0.0.0:8186")]
    [InlineData("http://*:8186")]
    [InlineData("http://+:8186")]
    [InlineData("http://[::]:8186")]
    [InlineData("http://10.1.2.3:8186")]
    [InlineData("http://ingest.example:8186")]
    [InlineData("http://127.0.0.1:8186;http://0.0.0.0:9000")]
    public void Anonymous_access_beyond_loopback_is_refused_naming_urls(string urls)
    {
        var e = Assert.Throws<ConfigurationError>(() => Exposure.CheckConfigured(new AuthOptions(), Config(("urls", urls))));
        Assert.Contains($"urls = '{urls}'", e.Message);
        Assert.Contains("Auth:AllowAnonymousNonLoopback", e.Message);
    }

    [Fact]
    public void A_Kestrel_endpoint_beyond_loopback_is_refused_naming_its_key()
    {
        var e = Assert.Throws<ConfigurationError>(() => Exposure.CheckConfigured(new AuthOptions(),
            Config(("urls", "http://127.0.0.1:8186"), ("Kestrel:Endpoints:Local:Url", "http://127.0.0.1:1"), ("Kestrel:Endpoints:Pub:Url", "http://0.0.0.0:9999"))));
        Assert.Contains("Kestrel:Endpoints:Pub:Url = 'http://0.0.0.0:9999'", e.Message);
    }

    [Fact]
    public void Beyond_loopback_is_allowed_with_auth_or_explicit_consent()
    {
        var wide = Config(("urls", "http://0.0.0.0:8186"));
        Exposure.CheckConfigured(new AuthOptions { AllowAnonymousNonLoopback = true }, wide);
        Exposure.CheckConfigured(new AuthOptions { Enabled = true }, wide);
        Assert.Null(Exposure.CheckBound(new AuthOptions { AllowAnonymousNonLoopback = true }, ["http://0.0.0.0:8186"], wide));
        Assert.Null(Exposure.CheckBound(new AuthOptions { Enabled = true }, ["http://[::]:8186"], wide));
    }

    [Fact]
    public void A_bound_address_beyond_loopback_is_named_with_the_key_that_asked_for_it_by_port()
    {
        var config = Config(("urls", "http://127.0.0.1:8186"), ("Kestrel:Endpoints:Pub:Url", "http://ingest.example:9999"));
        Assert.Null(Exposure.CheckBound(new AuthOptions(), ["http://127.0.0.1:8186", "http://localhost:8187", "http://unix:/run/x.sock"], config));
        var named = Exposure.CheckBound(new AuthOptions(), ["http://127.0.0.1:8186", "http://[::]:9999"], config);
        Assert.Contains("Kestrel:Endpoints:Pub:Url = 'http://ingest.example:9999': the server is listening on http://[::]:9999", named!.Message);
        var unnamed = Exposure.CheckBound(new AuthOptions(), ["http://0.0.0.0:7000"], config);
        Assert.Contains("listening on http://0.0.0.0:7000", unnamed!.Message);
        Assert.Contains("set in code or by a hosting extension", unnamed.Message);
    }
}
