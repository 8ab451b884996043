using Ingest.Sources.Redis;

namespace Ingest.Sources;

internal static partial class SourceCatalog
{
    /// <summary>
    /// <c>Type: redis</c>. Declared at least once because its stream and list modes are (backpressure, acknowledged
    /// once admitted); the connector tells the runner each mode's own delivery.
    /// </summary>
    private static SourceType RedisType => new("redis", SourceDelivery.AtLeastOnce,
        r => RedisSourceSettings.Read(r),
        (options, _) => new RedisSourceConnector(options, options.SettingsAs<RedisSourceSettings>()));
}
