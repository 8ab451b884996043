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
