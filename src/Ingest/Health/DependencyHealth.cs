namespace Ingest.Health;

/// <summary>Last known state of one dependency, updated by its probe and read by <c>/ready</c>.</summary>
public sealed class DependencyHealth(string name, string endpoint, bool required)
{
    private volatile Snapshot _state = new("unknown", null, null, null);

    public string Name { get; } = name;
    public string Endpoint { get; } = endpoint;

    /// <summary>A required dependency keeps the daemon not ready until it has been reached once.</summary>
    public bool Required { get; } = required;

    public bool EverUp { get; private set; }
    public Snapshot State => _state;

    public void Up(string? detail = null)
    {
        EverUp = true;
        _state = new Snapshot("up", null, detail, DateTimeOffset.UtcNow);
    }

    public void Down(string error) => _state = new Snapshot("down", error, _state.Detail, _state.LastUp);

    public sealed record Snapshot(string Status, string? Error, string? Detail, DateTimeOffset? LastUp);
}
