using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.Admission;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sources.Http;
using Ingest.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ingest.Tests.Admission;

/// <summary>The InfluxDB write endpoints, on a real Kestrel listener on loopback, written to over HTTP.</summary>
public sealed class HttpSourceAdmissionTests : AdmissionContract
{
    protected override string SourceName => "http";

    protected override async Task<ISourceDriver> StartSourceAsync(WriteAdmission admission, AdmissionSource source)
    {
        var options = new IngestOptions();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton<IngestMeter>(TestMeters.Create());
        services.AddSingleton(new LineProtocolParser());
        services.AddSingleton(new WriteCredentials(options.Auth));
        services.AddSingleton(new BodyBudget(options.Http.BodyBytesInFlight));
        services.AddSingleton<WriteTelemetry>();
        services.AddSingleton(admission);
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<WriteEndpoints>(sp, source));
        var app = builder.Build();
        WriteEndpoints.Map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Driver(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private sealed class Driver(WebApplication app, HttpClient client) : ISourceDriver
    {
        public async Task<(SourceAnswer, TimeSpan?)> SendAsync(string database, IReadOnlyList<string> lines)
        {
            using var body = new StringContent(string.Join('\n', lines) + "\n", Encoding.UTF8, "text/plain");
            using var answer = await client.PostAsync($"/write?db={database}", body);
            var retryAfter = answer.Headers.RetryAfter?.Delta;
            switch (answer.StatusCode)
            {
                case HttpStatusCode.NoContent:
                    return (SourceAnswer.Acknowledged, retryAfter);
                case HttpStatusCode.ServiceUnavailable:
                    return (SourceAnswer.RetryLater, retryAfter);
                case HttpStatusCode.BadRequest:
                    using (var json = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()))
                    {
                        var accepted = json.RootElement.GetProperty("accepted").GetInt32();
                        return (accepted > 0 ? SourceAnswer.PartlyAcknowledged : SourceAnswer.Rejected, retryAfter);
                    }
                default:
                    throw new Xunit.Sdk.XunitException($"unexpected answer {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}

/// <summary>
/// The admission called as a source that acknowledges upstream would call it (NATS JetStream, Redis Streams):
/// the acknowledgement goes out on an accepting verdict only. The reference the other sources are held to.
/// </summary>
public sealed class DirectAdmissionTests : AdmissionContract
{
    protected override string SourceName => "direct";

    protected override Task<ISourceDriver> StartSourceAsync(WriteAdmission admission, AdmissionSource source) =>
        Task.FromResult<ISourceDriver>(new Driver(admission, source));

    private sealed class Driver(WriteAdmission admission, AdmissionSource source) : ISourceDriver
    {
        public async Task<(SourceAnswer, TimeSpan?)> SendAsync(string database, IReadOnlyList<string> lines)
        {
            var (batch, rejected) = AdmissionRig.Decode(database, lines);
            var verdict = await admission.AdmitAsync(batch, rejected, source, CancellationToken.None);
            return verdict.Outcome switch
            {
                AdmissionOutcome.Accepted => (SourceAnswer.Acknowledged, null),
                AdmissionOutcome.PartiallyAccepted => (SourceAnswer.PartlyAcknowledged, null),
                AdmissionOutcome.Rejected => (SourceAnswer.Rejected, null),
                _ => (SourceAnswer.RetryLater, verdict.RetryAfter),
            };
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// A configured source (<c>Sources:&lt;name&gt;</c>) as <see cref="Ingest.Sources.SourceRunner"/> runs it, with a
/// connector of the test's own: what the upstream is told is the message's <c>Ack</c> (taken: whole, in part, or
/// for good, told apart by the source's counts) or its <c>Nack</c> with the wait admission asked for. Every source
/// type runs in this same graph.
/// </summary>
public sealed class ConfiguredSourceAdmissionTests : AdmissionContract
{
    protected override string SourceName => "feed";

    protected override async Task<ISourceDriver> StartSourceAsync(WriteAdmission admission, AdmissionSource source)
    {
        var channel = System.Threading.Channels.Channel.CreateUnbounded<Ingest.Sources.SourceMessage>();
        var typeName = "contract-" + Guid.NewGuid().ToString("N")[..8];
        Ingest.Sources.SourceCatalog.Add(new Ingest.Sources.SourceType(typeName, Ingest.Sources.SourceDelivery.AtMostOnce, _ => new object(),
            (_, _) => new ChannelConnector(channel)));
        var options = new IngestOptions
        {
            Sources = [new Ingest.Sources.SourceOptions { Name = SourceName, Type = typeName, Database = "db", BatchInterval = TimeSpan.FromMilliseconds(2) }],
        };
        var system = Akka.Actor.ActorSystem.Create("contract");
        var instruments = new Ingest.Sources.SourceInstruments(TestMeters.Create());
        var runner = new Ingest.Sources.SourceRunner(options, admission, instruments, new LineProtocolParser(), new NoServices(), system,
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, Microsoft.Extensions.Logging.Abstractions.NullLogger<Ingest.Sources.SourceRunner>.Instance);
        await runner.StartAsync(CancellationToken.None);
        return new Driver(channel, instruments.Sources.Single(), runner, system);
    }

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private sealed class ChannelConnector(System.Threading.Channels.Channel<Ingest.Sources.SourceMessage> channel) : Ingest.Sources.ISourceConnector
    {
        public Ingest.Sources.SourceDelivery Delivery => Ingest.Sources.SourceDelivery.AtMostOnce;

        public Akka.Streams.Dsl.Source<Ingest.Sources.SourceMessage, Akka.NotUsed> Messages(Ingest.Sources.SourceContext context) =>
            Akka.Streams.Dsl.Source.ChannelReader(channel.Reader);
    }

    private sealed class Driver(
        System.Threading.Channels.Channel<Ingest.Sources.SourceMessage> channel,
        Ingest.Sources.SourceTelemetry telemetry,
        Ingest.Sources.SourceRunner runner,
        Akka.Actor.ActorSystem system) : ISourceDriver
    {
        public async Task<(SourceAnswer, TimeSpan?)> SendAsync(string database, IReadOnlyList<string> lines)
        {
            Assert.Equal("db", database);
            var (points, errors) = (telemetry.Points, telemetry.DecodeErrors);
            var answer = new TaskCompletionSource<(SourceAnswer, TimeSpan?)>(TaskCreationOptions.RunContinuationsAsynchronously);
            var message = new Ingest.Sources.SourceMessage(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"), Ingest.Sources.SourceMessage.Now(), "contract",
                Ack: () =>
                {
                    var (good, bad) = (telemetry.Points - points, telemetry.DecodeErrors - errors);
                    answer.TrySetResult((bad == 0 ? SourceAnswer.Acknowledged : good > 0 ? SourceAnswer.PartlyAcknowledged : SourceAnswer.Rejected, null));
                    return ValueTask.CompletedTask;
                },
                Nack: wait =>
                {
                    answer.TrySetResult((SourceAnswer.RetryLater, wait));
                    return ValueTask.CompletedTask;
                });
            await channel.Writer.WriteAsync(message);
            return await answer.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        public async ValueTask DisposeAsync()
        {
            await runner.StopAsync(CancellationToken.None);
            await system.Terminate();
        }
    }
}
