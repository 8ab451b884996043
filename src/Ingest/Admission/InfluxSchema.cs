namespace Ingest.Admission;

/// <summary>
/// What the daemon knows of InfluxDB's schema (databases, retention policies, field types), so that a write
/// InfluxDB would refuse is refused at the door with InfluxDB's own status and message.
/// </summary>
public sealed class InfluxSchema
{
    /// <summary>
    /// Forgets what is known of <paramref name="database"/> (every database when null): called after a statement
    /// that may have changed it went through <c>/query</c> (CREATE/DROP DATABASE, retention policies, DROP
    /// MEASUREMENT/SERIES, DELETE). It is learned again from InfluxDB on the next write to it.
    /// </summary>
    public void Invalidate(string? database)
    {
    }
}
