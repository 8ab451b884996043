using Ingest.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ingest.Tests;

public class SecretRedactorTests
{
    private static readonly SecretRedactor Redactor = new(["configured-password", "abc"]);

    [Theory]
    [InlineData("POST http://h:8186/write?db=x&u=bob&p=s3cret - 204", "POST http://h:8186/write?db=x&u=bob&p=*** - 204")]
    [InlineData("/write?p=s3cret&db=x", "/write?p=***&db=x")]
    [InlineData("/write?db=x&P=s3cret", "/write?db=x&P=***")]
    [InlineData("/write?db=x&%70=s3cret", "/write?db=x&%70=***")]
    [InlineData("/write?db=x&%50=s3cret", "/write?db=x&%50=***")]
    [InlineData("/api/status?token=s3cret", "/api/status?token=***")]
    [InlineData("/ws?TOKEN=s3cret#frag", "/ws?TOKEN=***#frag")]
    [InlineData("/ws?%74oken=s3cret", "/ws?%74oken=***")]
    [InlineData("p=s3cret", "p=***")]
    [InlineData("127.0.0.1:6379,password=s3cret,ssl=false", "127.0.0.1:6379,password=***,ssl=false")]
    [InlineData("Authorization: Token bob:s3cret\nHost: h", "Authorization: ***\nHost: h")]
    [InlineData("authorization=Bearer s3cret", "authorization=***")]
    [InlineData("http://admin:s3cret@influx:8086/write", "http://admin:***@influx:8086/write")]
    [InlineData("sent configured-password twice: configured-password", "sent *** twice: ***")]
    [InlineData("GET /query?q=CREATE+USER+bob+WITH+PASSWORD+%27s3cret%27+WITH+ALL+PRIVILEGES", "GET /query?q=CREATE+USER+bob+WITH+PASSWORD+%27***%27+WITH+ALL+PRIVILEGES")]
    [InlineData("q=SET%20PASSWORD%20FOR%20bob%20%3D%20%27s3%5C%27cret%27&db=x", "q=SET%20PASSWORD%20FOR%20bob%20%3D%20%27***%27&db=x")]
    [InlineData("CREATE USER bob WITH PASSWORD 's3\\'cret' WITH ALL PRIVILEGES", "CREATE USER bob WITH PASSWORD '***' WITH ALL PRIVILEGES")]
    public void Secrets_are_masked_in_every_form_they_travel_in(string text, string expected) =>
        Assert.Equal(expected, Redactor.Redact(text));

    [Theory]
    [InlineData("/write?db=x&u=bob&precision=s")]
    [InlineData("authorization failed")]
    [InlineData("ip=10.0.0.1 app=abcd")] // a configured secret shorter than four characters is not masked as text
    [InlineData("mail bob@example.org")]
    [InlineData("Ingest listening on http://127.0.0.1:8186")]
    public void Text_without_secrets_is_returned_unchanged(string text) => Assert.Same(text, Redactor.Redact(text));
}

public class RedactingLoggerFactoryTests
{
    private sealed class Capture : ILoggerProvider, ISupportExternalScope
    {
        public readonly List<string> Lines = new();
        private IExternalScopeProvider? _scopes;

        public ILogger CreateLogger(string categoryName) => new Logger(this);
        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;
        public void Dispose() { }

        private sealed class Logger(Capture owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes?.Push(state);
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // What console, JSON and systemd formatters read: the message, each value, each scope, the exception text.
                owner.Lines.Add(formatter(state, exception));
                if (state is IEnumerable<KeyValuePair<string, object?>> values) owner.Lines.AddRange(values.Select(v => $"{v.Key}={v.Value}"));
                owner._scopes?.ForEachScope((scope, lines) =>
                {
                    lines.Add(scope?.ToString() ?? "");
                    if (scope is IEnumerable<KeyValuePair<string, object?>> items) lines.AddRange(items.Select(v => $"{v.Key}={v.Value}"));
                }, owner.Lines);
                if (exception is not null) owner.Lines.Add(exception.ToString());
            }
        }
    }

    [Fact]
    public void Messages_values_scopes_and_exceptions_reach_providers_without_the_secret()
    {
        var capture = new Capture();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(capture));
        RedactingLoggerFactory.Replace(services, new SecretRedactor(["outgoing-password"]));
        using var provider = services.BuildServiceProvider();
        var logger = provider.GetRequiredService<ILogger<RedactingLoggerFactoryTests>>();

        using (logger.BeginScope("request {Url}", "http://h/write?u=bob&p=scope-secret"))
        using (logger.BeginScope("plain text scope ?token=text-scope-secret"))
        {
            logger.LogTrace("Request starting {Method} {Uri}", "POST", new Uri("http://h/write?db=x&p=uri-secret"));
            logger.LogInformation("headers {Authorization}", "Token header-secret");
            logger.LogError(new InvalidOperationException("could not reach http://u:exception-secret@h/ with outgoing-password"), "failed");
        }

        Assert.NotEmpty(capture.Lines);
        var all = string.Join("\n", capture.Lines);
        foreach (var secret in new[] { "scope-secret", "text-scope-secret", "uri-secret", "header-secret", "exception-secret", "outgoing-password" })
            Assert.DoesNotContain(secret, all);
        Assert.Contains("Request starting POST http://h/write?db=x&p=***", all);
        Assert.Contains("InvalidOperationException: could not reach http://u:***@h/ with ***", all);
        Assert.Contains("{OriginalFormat}=Request starting {Method} {Uri}", all);
    }
}
