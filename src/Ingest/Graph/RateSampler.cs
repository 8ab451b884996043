using Ingest.Hosting;
using Microsoft.Extensions.Hosting;

namespace Ingest.Graph;

/// <summary>Samples every stage's received count each second, so that status can show rates over the last 10 s.</summary>
public sealed class RateSampler(PipelineTelemetry telemetry) : BackgroundService
{
    private const int Window = 10;
    private readonly Dictionary<string, Queue<long>> _samples = new();
    private readonly object _lock = new();

    public double Rate(string stage)
    {
        lock (_lock)
        {
            if (!_samples.TryGetValue(stage, out var q) || q.Count < 2) return 0;
            return (q.Last() - q.Peek()) / (double)(q.Count - 1);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(TimeSpan.FromSeconds(1), Sample, stoppingToken);

    private void Sample()
    {
        lock (_lock)
        {
            foreach (var s in telemetry.Stages)
            {
                if (!_samples.TryGetValue(s.Name, out var q)) _samples[s.Name] = q = new Queue<long>();
                q.Enqueue(s.Received);
                while (q.Count > Window + 1) q.Dequeue();
            }
        }
    }
}
