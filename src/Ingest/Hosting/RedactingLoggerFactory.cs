using System.Collections;

namespace Ingest.Hosting;

/// <summary>
/// Wraps the logger factory so that every logger of the process (ASP.NET Core's request lines, HttpClient's
/// request URIs, Kestrel's bad-request details, this daemon's own messages) passes its message, its structured
/// values, its scopes and its exception text through <see cref="SecretRedactor"/> before any provider sees them.
/// Redacting here rather than with level filters means no log level, set in any file or variable, can let a
/// credential through. Levels and per-provider filters stay the inner factory's business.
/// </summary>
public sealed class RedactingLoggerFactory(ILoggerFactory inner, SecretRedactor redactor) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new RedactingLogger(inner.CreateLogger(categoryName), redactor);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    /// <summary>Puts the redacting factory in place of the one the host registered.</summary>
    public static void Replace(IServiceCollection services, SecretRedactor redactor)
    {
        var registered = services.Last(d => d.ServiceType == typeof(ILoggerFactory));
        var implementation = registered.ImplementationType
            ?? throw new InvalidOperationException("the host's logger factory is expected to be registered by type");
        services.Remove(registered);
        services.Add(ServiceDescriptor.Singleton(implementation, implementation));
        services.AddSingleton<ILoggerFactory>(sp => new RedactingLoggerFactory((ILoggerFactory)sp.GetRequiredService(implementation), redactor));
    }
}

internal sealed class RedactingLogger(ILogger inner, SecretRedactor redactor) : ILogger
{
    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull =>
        state is IReadOnlyList<KeyValuePair<string, object?>> values
            ? inner.BeginScope(new RedactedScope(values, redactor))
            : inner.BeginScope(new RedactedText(state, redactor));

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!inner.IsEnabled(logLevel)) return;
        var redactedException = exception is null ? null : RedactedException.Wrap(exception, redactor);
        var message = redactor.Redact(formatter(state, exception));
        if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            // A value logged under a credential's name ({Authorization}, {Password}) is masked in the text too.
            for (var i = 0; i < values.Count; i++)
                if (RedactedState.IsSecretName(values[i].Key) && values[i].Value?.ToString() is { Length: > 0 } secret)
                    message = message.Replace(secret, SecretRedactor.Mask, StringComparison.Ordinal);
        }
        inner.Log(logLevel, eventId, new RedactedState(state, message, redactor), redactedException, static (s, _) => s.Message);
    }
}

/// <summary>A log entry's values with their text redacted, in the shape structured providers read (and the message as its text).</summary>
internal sealed class RedactedState(object? state, string message, SecretRedactor redactor) : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly IReadOnlyList<KeyValuePair<string, object?>> _values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];

    public string Message { get; } = message;

    public KeyValuePair<string, object?> this[int index] => Redact(_values[index], redactor);

    public int Count => _values.Count;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < _values.Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Message;

    internal static bool IsSecretName(string key) =>
        key.Contains("Authorization", StringComparison.OrdinalIgnoreCase) || key.Contains("Password", StringComparison.OrdinalIgnoreCase) ||
        key.Contains("Secret", StringComparison.OrdinalIgnoreCase);

    internal static KeyValuePair<string, object?> Redact(KeyValuePair<string, object?> pair, SecretRedactor redactor) => pair.Value switch
    {
        // The template itself is fixed text, and providers match on it.
        _ when pair.Key == "{OriginalFormat}" => pair,
        _ when IsSecretName(pair.Key) => new(pair.Key, SecretRedactor.Mask),
        string text => new(pair.Key, redactor.Redact(text)),
        Uri uri => new(pair.Key, redactor.Redact(uri.ToString())),
        null or ValueType => pair,
        var other => new(pair.Key, redactor.Redact(other.ToString() ?? "")),
    };
}

/// <summary>A scope of values (hosting opens one per request) redacted when a provider reads it, not before.</summary>
internal sealed class RedactedScope(IReadOnlyList<KeyValuePair<string, object?>> values, SecretRedactor redactor) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public KeyValuePair<string, object?> this[int index] => RedactedState.Redact(values[index], redactor);

    public int Count => values.Count;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < values.Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => redactor.Redact(values.ToString() ?? "");
}

/// <summary>A scope that is only text.</summary>
internal sealed class RedactedText(object state, SecretRedactor redactor)
{
    public override string ToString() => redactor.Redact(state.ToString() ?? "");
}

/// <summary>An exception whose text (as providers print it: <see cref="ToString"/>) is redacted.</summary>
internal sealed class RedactedException : Exception
{
    private readonly Exception _original;
    private readonly string _text;

    private RedactedException(Exception original, string message, string text) : base(message, original.InnerException)
    {
        _original = original;
        _text = text;
        HResult = original.HResult;
    }

    /// <summary>The exception itself when its text holds nothing to redact, which is the usual case.</summary>
    public static Exception Wrap(Exception exception, SecretRedactor redactor)
    {
        var text = exception.ToString();
        var redacted = redactor.Redact(text);
        return ReferenceEquals(text, redacted) ? exception : new RedactedException(exception, redactor.Redact(exception.Message), redacted);
    }

    public override string? StackTrace => _original.StackTrace;

    public override string ToString() => _text;
}
