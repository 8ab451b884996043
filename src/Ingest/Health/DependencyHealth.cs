namespace Ingest.Health;

/// <summary>Last known state of one dependency, updated by its probe and read by <c>/ready</c>.</summary>
public sealed class DependencyHealth(string name, string endpoint, bool required)
{
    private volatile Snapshot _state = new("unknown", null, null, null);
    private volatile bool _everUp;

    public string Name { get; } = name;
    public string Endpoint { get; } = endpoint;

    /// <summary>A required dependency keeps the daemon not ready until it has been reached once.</summary>
    public bool Required { get; } = required;

    public bool EverUp => _everUp;
    public Snapshot State => _state;

    /// <param name="detail">What the successful probe measured (a ping's time, the server's version).</param>
    public void Up(string? detail = null)
    {
        _everUp = true;
        _state = new Snapshot("up", null, detail, DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// The probe failed: the error, and when it was last reached. The last successful probe's detail goes: shown
    /// beside <c>down</c> it would read as a measurement of now.
    /// </summary>
    public void Down(string error) => _state = new Snapshot("down", error, null, _state.LastUp);

    /// <param name="Status"><c>unknown</c> (not probed yet), <c>up</c> or <c>down</c>.</param>
    /// <param name="Error">Why the last probe failed; null unless down.</param>
    /// <param name="Detail">What the last probe measured; null unless up.</param>
    /// <param name="LastUp">When a probe last succeeded; null if none has.</param>
    public sealed record Snapshot(string Status, string? Error, string? Detail, DateTimeOffset? LastUp);
}
