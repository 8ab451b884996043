namespace Ingest.Telemetry.Prometheus;

internal sealed class MeterNameFilter
{
    private readonly HashSet<string> _exact = new(StringComparer.Ordinal);
    private readonly string[] _prefixes;

    public MeterNameFilter(IEnumerable<string> patterns)
    {
        var prefixes = new List<string>();
        foreach (var p in patterns)
        {
            if (p.EndsWith('*')) prefixes.Add(p[..^1]);
            else _exact.Add(p);
        }
        _prefixes = prefixes.ToArray();
    }

    public bool Matches(string meterName)
    {
        if (_exact.Contains(meterName)) return true;
        foreach (var prefix in _prefixes)
        {
            if (meterName.StartsWith(prefix, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
