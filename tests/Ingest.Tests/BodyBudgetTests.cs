using Ingest.Sources.Http;

namespace Ingest.Tests;

public class BodyBudgetTests
{
    [Fact]
    public async Task Reservations_fill_the_capacity_and_no_further()
    {
        var budget = new BodyBudget(100);
        Assert.True(await budget.TryAcquireAsync(60, TimeSpan.Zero, default));
        Assert.True(await budget.TryAcquireAsync(40, TimeSpan.Zero, default));
        Assert.False(await budget.TryAcquireAsync(1, TimeSpan.Zero, default));
        Assert.Equal(100, budget.InFlight);
        budget.Release(60);
        Assert.Equal(40, budget.InFlight);
        Assert.Equal(100, budget.Peak);
    }

    [Fact]
    public async Task A_waiting_reservation_is_granted_when_another_gives_back()
    {
        var budget = new BodyBudget(100);
        Assert.True(await budget.TryAcquireAsync(100, TimeSpan.Zero, default));
        var waiting = budget.TryAcquireAsync(30, TimeSpan.FromSeconds(30), default).AsTask();
        Assert.False(waiting.IsCompleted);
        budget.Release(50);
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(80, budget.InFlight);
    }

    [Fact]
    public async Task A_reservation_that_finds_no_room_in_time_is_refused_and_takes_nothing()
    {
        var budget = new BodyBudget(100);
        Assert.True(await budget.TryAcquireAsync(90, TimeSpan.Zero, default));
        Assert.False(await budget.TryAcquireAsync(20, TimeSpan.FromMilliseconds(50), default));
        Assert.False(await budget.TryAcquireAsync(101, TimeSpan.FromSeconds(30), default));
        Assert.Equal(90, budget.InFlight);
    }

    [Fact]
    public async Task Cancelling_a_wait_throws_and_takes_nothing()
    {
        var budget = new BodyBudget(10);
        Assert.True(await budget.TryAcquireAsync(10, TimeSpan.Zero, default));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => budget.TryAcquireAsync(5, TimeSpan.FromSeconds(30), cts.Token).AsTask());
        Assert.Equal(10, budget.InFlight);
    }

    [Fact]
    public async Task Many_requests_at_once_never_hold_more_than_the_capacity()
    {
        var budget = new BodyBudget(1_000);
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (int i = 0; i < 500; i++)
            {
                long bytes = random.Next(1, 400);
                if (!await budget.TryAcquireAsync(bytes, TimeSpan.FromMilliseconds(random.Next(0, 3)), default)) continue;
                Assert.InRange(budget.InFlight, bytes, 1_000);
                if (random.Next(4) == 0) await Task.Yield();
                budget.Release(bytes);
            }
        }));
        await Task.WhenAll(workers);
        Assert.Equal(0, budget.InFlight);
        Assert.InRange(budget.Peak, 1, 1_000);
    }
}

public class BodyMemoryReclaimerTests
{
    private static BodyMemoryReclaimer Reclaimer() =>
        new(new BodyBudget(1), Microsoft.Extensions.Logging.Abstractions.NullLogger<BodyMemoryReclaimer>.Instance);

    private const long Big = BodyMemoryReclaimer.Threshold;

    [Fact]
    public void Collects_once_when_a_large_burst_is_over_and_no_full_collection_ran_since()
    {
        var r = Reclaimer();
        Assert.False(r.ShouldCollect(Big / 2, 3));     // burst going on
        Assert.False(r.ShouldCollect(Big, 3));         // still going on
        Assert.True(r.ShouldCollect(Big, 3));          // quiet for one check
        Assert.False(r.ShouldCollect(Big, 4));         // and only once
        Assert.False(r.ShouldCollect(Big, 4));
    }

    [Fact]
    public void Leaves_a_small_burst_to_the_collector()
    {
        var r = Reclaimer();
        Assert.False(r.ShouldCollect(Big - 1, 0));
        Assert.False(r.ShouldCollect(Big - 1, 0));
    }

    [Fact]
    public void Does_not_collect_when_the_runtime_ran_a_full_collection_after_the_burst()
    {
        var r = Reclaimer();
        Assert.False(r.ShouldCollect(2 * Big, 7));
        Assert.False(r.ShouldCollect(2 * Big, 8));
    }
}
