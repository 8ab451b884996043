using Ingest.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Ingest.Sources.Nats;

/// <summary>
/// A <c>nats</c> source's own keys. Core (<see cref="Subjects"/>, optional <see cref="QueueGroup"/>) is read at
/// most once; with a <see cref="JetStream"/> section the source reads a durable pull consumer at least once.
/// </summary>
internal sealed record NatsSettings
{
    public const string DefaultUrl = "nats://127.0.0.1:4222";

    /// <summary>One server or several, comma-separated (<c>nats://a:4222,nats://b:4222</c>).</summary>
    public string Url { get; init; } = DefaultUrl;

    /// <summary>Core subjects, wildcards <c>*</c> (one token) and <c>&gt;</c> (the rest) allowed; empty with JetStream.</summary>
    public IReadOnlyList<string> Subjects { get; init; } = [];

    /// <summary>Core queue group: the daemons that share it share the messages (each reaches one of them).</summary>
    public string? QueueGroup { get; init; }

    public string? User { get; init; }
    public string? Password { get; init; }
    public string? Token { get; init; }

    public JetStreamSettings? JetStream { get; init; }

    public SourceDelivery Delivery => JetStream is null ? SourceDelivery.AtMostOnce : SourceDelivery.AtLeastOnce;

    /// <summary>What the URL shows in logs and errors: without credentials.</summary>
    public string SafeUrl => string.Join(",", Url.Split(',').Select(u =>
        Uri.TryCreate(u.Trim(), UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 ? uri.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped) : u.Trim()));

    internal static object Read(SectionReader r)
    {
        var url = r.String("Url", DefaultUrl);
        foreach (var one in url.Split(','))
        {
            if (!Uri.TryCreate(one.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls" or "ws" or "wss") || uri.Host.Length == 0)
                throw new ConfigurationError(r.Name + ":Url", url, "expected nats://host:port (or tls://, ws://, wss://), several separated by commas");
        }

        var user = Optional(r.String("User", ""));
        var password = Optional(r.String("Password", ""));
        var token = Optional(r.String("Token", ""));
        if (user is not null && password is null)
            throw new ConfigurationError(r.Name + ":Password", "", "a User needs its Password");
        if (password is not null && user is null)
            throw new ConfigurationError(r.Name + ":User", "", "a Password needs its User");
        if (token is not null && user is not null)
            throw new ConfigurationError(r.Name + ":Token", token, "give either User and Password or Token, not both");

        var subjects = r.List("Subjects") ?? [];
        var queueGroup = Optional(r.String("QueueGroup", ""));
        JetStreamSettings? jetStream = null;
        var jsSection = r.Child("JetStream");
        if (jsSection.Exists())
        {
            if (subjects.Count > 0)
                throw new ConfigurationError(r.Name + ":Subjects", string.Join(",", subjects),
                    "a JetStream source reads its consumer: name the subjects in JetStream:FilterSubjects instead");
            if (queueGroup is not null)
                throw new ConfigurationError(r.Name + ":QueueGroup", queueGroup,
                    "a JetStream source shares its durable consumer instead: daemons with the same Durable share the messages");
            // The type is registered at most once by default (core); a JetStream source is read at least once, which
            // only backpressure keeps: a buffer that drops would leave each dropped message to wait for AckWait.
            var fullPolicy = r.String("FullPolicy", "");
            if (!fullPolicy.Equals("backpressure", StringComparison.OrdinalIgnoreCase))
                throw new ConfigurationError(r.Name + ":FullPolicy", fullPolicy,
                    "a nats source with JetStream is read at least once: set FullPolicy to backpressure");
            jetStream = JetStreamSettings.Read(new SectionReader(new Scoped(jsSection), jsSection.Path));
        }
        else
        {
            if (subjects.Count == 0)
                throw new ConfigurationError(r.Name + ":Subjects", "", "a nats source needs Subjects (or a JetStream section)");
            for (var i = 0; i < subjects.Count; i++)
                CheckSubject($"{r.Name}:Subjects:{i}", subjects[i]);
            if (queueGroup is not null && !IsToken(queueGroup, dots: true))
                throw new ConfigurationError(r.Name + ":QueueGroup", queueGroup, "a queue group name has no spaces or wildcards");
        }

        return new NatsSettings
        {
            Url = url,
            Subjects = subjects,
            QueueGroup = queueGroup,
            User = user,
            Password = password,
            Token = token,
            JetStream = jetStream,
        };
    }

    /// <summary>A subject: dot-separated non-empty tokens; <c>*</c> a whole token, <c>&gt;</c> the whole last token.</summary>
    internal static void CheckSubject(string key, string subject)
    {
        var tokens = subject.Split('.');
        for (var i = 0; i < tokens.Length; i++)
        {
            var t = tokens[i];
            var ok = t.Length > 0 && (t is "*" || (t is ">" && i == tokens.Length - 1) || IsToken(t, dots: false));
            if (!ok)
                throw new ConfigurationError(key, subject,
                    "a subject is tokens separated by '.', none empty, without spaces; '*' stands for one whole token, '>' for the rest as the last token");
        }
    }

    internal static bool IsToken(string s, bool dots) =>
        s.Length > 0 && s.All(c => !char.IsWhiteSpace(c) && !char.IsControl(c) && c is not ('*' or '>') && (dots || c != '.'));

    internal static string? Optional(string value) => value.Length == 0 ? null : value;

    /// <summary>Lets a <see cref="SectionReader"/> read a nested section under its full key.</summary>
    private sealed class Scoped(IConfigurationSection section) : IConfiguration
    {
        public string? this[string key] { get => section[key]; set => section[key] = value; }

        public IConfigurationSection GetSection(string key) => key == section.Path ? section : section.GetSection(key);

        public IEnumerable<IConfigurationSection> GetChildren() => section.GetChildren();

        public IChangeToken GetReloadToken() => section.GetReloadToken();
    }
}

/// <summary>A <c>nats</c> source's <c>JetStream</c> section: the durable pull consumer it reads.</summary>
internal sealed record JetStreamSettings
{
    public static readonly TimeSpan DefaultAckWait = TimeSpan.FromSeconds(30);
    public const int DefaultMaxAckPending = 10_000;

    public string Stream { get; init; } = "";

    /// <summary>The durable consumer's name, created on the stream if missing (and updated to these settings).</summary>
    public string Durable { get; init; } = "";

    /// <summary>Subjects of the stream the consumer takes; empty: all of them.</summary>
    public IReadOnlyList<string> FilterSubjects { get; init; } = [];

    public TimeSpan AckWait { get; init; } = DefaultAckWait;
    public int MaxAckPending { get; init; } = DefaultMaxAckPending;

    /// <summary>Where a new consumer starts: the first message the stream holds, or the next one published.</summary>
    public bool DeliverNew { get; init; }

    private static readonly Dictionary<string, bool> Policies = new() { ["all"] = false, ["new"] = true };

    internal static JetStreamSettings Read(SectionReader r)
    {
        var stream = r.String("Stream", "");
        if (!NatsSettings.IsToken(stream, dots: false) || stream.Contains('/') || stream.Contains('\\'))
            throw new ConfigurationError(r.Name + ":Stream", stream, "the stream's name is required, without spaces, '.', '*', '>', '/' or '\\'");
        var durable = r.String("Durable", "");
        if (!NatsSettings.IsToken(durable, dots: false) || durable.Contains('/') || durable.Contains('\\'))
            throw new ConfigurationError(r.Name + ":Durable", durable, "the durable consumer's name is required, without spaces, '.', '*', '>', '/' or '\\'");

        var single = NatsSettings.Optional(r.String("FilterSubject", ""));
        var many = r.List("FilterSubjects");
        if (single is not null && many is not null)
            throw new ConfigurationError(r.Name + ":FilterSubjects", string.Join(",", many), "give FilterSubject or FilterSubjects, not both");
        var filters = many ?? (single is null ? [] : [single]);
        for (var i = 0; i < filters.Count; i++)
            NatsSettings.CheckSubject(many is null ? r.Name + ":FilterSubject" : $"{r.Name}:FilterSubjects:{i}", filters[i]);

        var settings = new JetStreamSettings
        {
            Stream = stream,
            Durable = durable,
            FilterSubjects = filters,
            AckWait = r.Duration("AckWait", DefaultAckWait, TimeSpan.FromSeconds(1), TimeSpan.FromHours(12)),
            MaxAckPending = r.Int("MaxAckPending", DefaultMaxAckPending, 1, 1_000_000),
            DeliverNew = r.Choice("DeliverPolicy", false, Policies),
        };
        r.RejectUnknownKeys();
        return settings;
    }
}
