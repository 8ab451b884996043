using Ingest.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests;

/// <summary>The daemon stops, with the failure exit code, when a part that must run until the stop ends before it.</summary>
public class ServiceFailuresTests
{
    private sealed class Lifetime : IHostApplicationLifetime
    {
        public int StopRequests;
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() => Interlocked.Increment(ref StopRequests);
    }

    [Fact]
    public async Task A_part_that_fails_before_the_stop_stops_the_daemon_as_failed()
    {
        var lifetime = new Lifetime();
        var failures = new ServiceFailures(lifetime, NullLogger<ServiceFailures>.Instance);
        var running = new TaskCompletionSource();
        var judged = failures.Watch("the stream graph", running.Task, () => false);

        Assert.False(failures.Failed);
        running.SetException(new InvalidOperationException("a stage threw"));
        await judged.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(failures.Failed);
        Assert.Equal(1, lifetime.StopRequests);
    }

    [Fact]
    public async Task A_part_that_ends_quietly_before_the_stop_stops_the_daemon_as_failed()
    {
        var lifetime = new Lifetime();
        var failures = new ServiceFailures(lifetime, NullLogger<ServiceFailures>.Instance);

        await failures.Watch("the stream graph", Task.CompletedTask, () => false).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(failures.Failed);
        Assert.Equal(1, lifetime.StopRequests);
    }

    [Fact]
    public async Task A_part_that_ends_or_fails_once_the_daemon_is_stopping_is_not_a_failure()
    {
        var lifetime = new Lifetime();
        var failures = new ServiceFailures(lifetime, NullLogger<ServiceFailures>.Instance);
        var stopping = false;
        var ended = new TaskCompletionSource();
        var cut = new TaskCompletionSource();
        var judgedEnded = failures.Watch("the stream graph", ended.Task, () => stopping);
        var judgedCut = failures.Watch("the sinks", cut.Task, () => stopping);

        stopping = true;
        ended.SetResult();
        cut.SetException(new OperationCanceledException("the stop's deadline"));
        await Task.WhenAll(judgedEnded, judgedCut).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(failures.Failed);
        Assert.Equal(0, lifetime.StopRequests);
    }
}
