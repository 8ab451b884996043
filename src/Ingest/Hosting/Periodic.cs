namespace Ingest.Hosting;

/// <summary>The daemon's background loops: an action every interval until the host stops.</summary>
public static class Periodic
{
    /// <summary>
    /// Runs <paramref name="tick"/> every <paramref name="interval"/>, the first time after one interval, never two
    /// at once (a slow tick delays the next), until <paramref name="stopping"/> is cancelled; then returns without
    /// throwing. What a service does once more at shutdown it does after this returns.
    /// </summary>
    public static async Task RunAsync(TimeSpan interval, Func<Task> tick, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false)) await tick().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// As <see cref="RunAsync(TimeSpan, Func{Task}, CancellationToken)"/>, with the interval read again after every tick,
    /// so that a setting a reload changed takes effect from the next one.
    /// </summary>
    public static async Task RunAsync(Func<TimeSpan> interval, Func<Task> tick, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval());
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                await tick().ConfigureAwait(false);
                if (interval() is var next && next != timer.Period) timer.Period = next;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <inheritdoc cref="RunAsync(TimeSpan, Func{Task}, CancellationToken)"/>
    public static Task RunAsync(TimeSpan interval, Action tick, CancellationToken stopping) =>
        RunAsync(interval, () =>
        {
            tick();
            return Task.CompletedTask;
        }, stopping);
}
