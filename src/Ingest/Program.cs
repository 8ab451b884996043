using Ingest.Configuration;
using Ingest.Hosting;
using Ingest.Sources.Http;

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
    Console.Error.WriteLine($"ingest: {configFileError}");
    return 2;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
ConfigurationSetup.Apply(builder.Configuration, args, configFile);

IngestOptions options;
try
{
    options = IngestOptionsLoader.Load(builder.Configuration);
    IngestOptionsLoader.CheckExposure(options.Auth, builder.Configuration["urls"]);
}
catch (ConfigurationError e)
{
    Console.Error.WriteLine($"ingest: {e.Message}");
    return 2;
}

builder.AddIngest(options);
var app = builder.Build();
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
app.Logger.LogInformation("Ingest listening on {Urls}; writes go to InfluxDB at {Influx} (API v{Api}), config file {ConfigFile}",
    builder.Configuration["urls"], options.Influx.Url, options.Influx.ApiVersion, configFile ?? "(none)");
await app.RunAsync();
return 0;
