using Ingest.Configuration;
using Ingest.Hosting;
using Ingest.Sources.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

// Exit codes: 0 a clean stop; 2 a configuration the daemon cannot run with (the message names key and value);
// 1 a failure while starting or running (a background service that failed, an address already in use).

if (args is ["hash-token", var secret])
{
    Console.WriteLine(WriteCredentials.Hash(secret));
    return 0;
}
if (args is ["replay-dead-letters", .. var replayArgs])
    return await Ingest.Sinks.DeadLetter.DeadLetterReplay.RunAsync(replayArgs, Console.Out, Console.Error);

var configFile = ConfigurationSetup.ResolveConfigFile(args, out var configFileError);
if (configFileError is not null)
{
    Console.Error.WriteLine($"ingest: invalid configuration: {configFileError}");
    return 2;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
IngestOptions options;
Ingest.Hosting.Reload.ConfigurationLayers layers;
try
{
    layers = ConfigurationSetup.Apply(builder.Configuration, args, configFile);
    options = IngestOptionsLoader.Load(builder.Configuration);
    Exposure.CheckConfigured(options.Auth, builder.Configuration);
}
catch (ConfigurationError e)
{
    Console.Error.WriteLine($"ingest: {e.Message}");
    return 2;
}

builder.AddIngest(options, layers);
await using var app = builder.Build();
try
{
    app.UseIngest();
}
catch (ConfigurationError e)
{
    // A setting that only fails once used, such as a write-ahead log directory that cannot be written.
    Console.Error.WriteLine($"ingest: {e.Message}");
    return 2;
}

try
{
    await app.StartAsync();
}
catch (Exception e)
{
    // The host has logged the exception; one line says what it means.
    Console.Error.WriteLine($"ingest: could not start: {e.GetBaseException().Message}");
    return ServiceFailures.ExitCode;
}

// The server has bound: check what it actually listens on before the gate lets the first request through.
var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
if (Exposure.CheckBound(options.Auth, addresses, builder.Configuration) is { } exposed)
{
    Console.Error.WriteLine($"ingest: {exposed.Message}");
    await app.StopAsync();
    return 2;
}
app.Services.GetRequiredService<ListeningGate>().Open();
var failures = app.Services.GetRequiredService<ServiceFailures>();
failures.Watch(app.Services.GetServices<IHostedService>());
app.Logger.LogInformation("Ingest listening on {Urls}; writes go to InfluxDB at {Influx} (API v{Api}), config file {ConfigFile}",
    string.Join(", ", addresses), app.Services.GetRequiredService<Ingest.Health.ReadinessState>().Influx.Endpoint, options.Influx.ApiVersion, configFile ?? "(none)");
await app.WaitForShutdownAsync();
return failures.Failed ? ServiceFailures.ExitCode : 0;
