using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Streams.TestKit;
using Akka.TestKit;
using Ingest.Graph;
using Xunit.Abstractions;

namespace Ingest.Tests.Graph;

/// <summary>
/// The elements are ints whose weight is their value, so each test's arithmetic can be read off its numbers.
/// </summary>
/// <remarks>
/// The materializer's input buffer is one element: the boundary in front of the stage asks the upstream probe for
/// one element ahead, and for one more each time the stage takes one. So after a send, a request means the stage
/// took that element, and silence means it did not.
/// </remarks>
public class WeightedBufferSpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);

    private readonly ActorMaterializer _materializer;
    private readonly TestProbe _drops;

    public WeightedBufferSpec(ITestOutputHelper output) : base(output: output)
    {
        _materializer = Sys.Materializer(ActorMaterializerSettings.Create(Sys).WithInputBuffer(1, 1));
        _drops = CreateTestProbe();
    }

    private sealed record Dropped(int Element, string Reason);

    private sealed record Rig(TestPublisher.Probe<int> Up, IWeightedBufferControl Control, TestSubscriber.Probe<int> Down);

    private Rig Materialize(long capacity, FullPolicy policy, Func<int, long>? weight = null)
    {
        var buffer = new WeightedBuffer<int>(capacity, weight ?? (x => x), policy,
            (element, reason) => _drops.Ref.Tell(new Dropped(element, reason)));
        var ((up, control), down) = this.SourceProbe<int>()
            .ViaMaterialized(buffer, Keep.Both)
            .ToMaterialized(this.SinkProbe<int>(), Keep.Both)
            .Run(_materializer);
        return new Rig(up, control, down);
    }

    /// <summary>Sends each element and waits for the request that shows the stage took it.</summary>
    private static async Task TakenAsync(Rig rig, params int[] elements)
    {
        foreach (var element in elements)
        {
            await rig.Up.SendNextAsync(element);
            await rig.Up.ExpectRequestAsync();
        }
    }

    /// <summary>Sends the element and checks that the stage does not take it.</summary>
    private static async Task NotTakenAsync(Rig rig, int element)
    {
        await rig.Up.SendNextAsync(element);
        await rig.Up.ExpectNoMsgAsync(Quiet);
    }

    private Task HeldBecomesAsync(Rig rig, long expected) =>
        AwaitAssertAsync(() => Assert.Equal(expected, rig.Control.Held), interval: Poll);

    /// <summary>The drop callback saw exactly these, in this order, and nothing else.</summary>
    private async Task DroppedExactlyAsync(params Dropped[] expected)
    {
        foreach (var drop in expected)
            await _drops.ExpectMsgAsync(drop);
        await _drops.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_take_elements_until_their_weight_fills_the_capacity()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.EnsureSubscriptionAsync();

        await TakenAsync(rig, 2, 3, 5);
        await NotTakenAsync(rig, 1);

        Assert.Equal(10, rig.Control.Held);
        Assert.Equal(10, rig.Control.Capacity);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_keep_an_element_that_does_not_fit_out_of_the_budget_until_releases_make_room()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await TakenAsync(rig, 4, 5, 3); // 4 + 5 leave room, so 3 is taken; 4 + 5 + 3 is over, so it waits
        await NotTakenAsync(rig, 1);
        Assert.Equal(9, rig.Control.Held);

        await rig.Down.RequestAsync(3);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectNextAsync(5);
        await rig.Down.ExpectNoMsgAsync(Quiet);

        rig.Control.Release(4);
        await rig.Down.ExpectNextAsync(3);
        await rig.Up.ExpectRequestAsync(); // 5 + 3 leave room: 1 is taken
        await HeldBecomesAsync(rig, 9);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_backpressure_while_delivered_weight_is_not_released()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(10);
        await TakenAsync(rig, 4, 6);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectNextAsync(6);

        // The buffer is empty, but what it emitted is not yet delivered.
        await NotTakenAsync(rig, 1);
        Assert.Equal(10, rig.Control.Held);

        rig.Control.Release(6);
        await rig.Up.ExpectRequestAsync();
        await rig.Down.ExpectNextAsync(1);
        await HeldBecomesAsync(rig, 5);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_admit_an_element_heavier_than_the_capacity_when_nothing_is_held()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(5);

        await TakenAsync(rig, 25);
        await rig.Down.ExpectNextAsync(25);
        await NotTakenAsync(rig, 1);
        Assert.Equal(25, rig.Control.Held);

        rig.Control.Release(25);
        await rig.Up.ExpectRequestAsync();
        await rig.Down.ExpectNextAsync(1);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_hold_back_an_element_heavier_than_the_capacity_until_everything_held_is_released()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(5);
        await TakenAsync(rig, 2, 30);
        await rig.Down.ExpectNextAsync(2);
        await NotTakenAsync(rig, 1);
        await rig.Down.ExpectNoMsgAsync(Quiet);

        rig.Control.Release(2);
        await rig.Down.ExpectNextAsync(30);
        await rig.Up.ExpectNoMsgAsync(Quiet); // 30 is over the capacity on its own: nothing more until it is released
        Assert.Equal(30, rig.Control.Held);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_drop_the_arriving_element_under_DropNewest_and_hand_it_to_the_drop_callback()
    {
        var rig = Materialize(10, FullPolicy.DropNewest);
        await rig.Down.EnsureSubscriptionAsync();

        // The upstream never waits: every element is taken, and those without room are dropped.
        await TakenAsync(rig, 4, 5, 3, 1, 2);
        await DroppedExactlyAsync(new(3, WeightedBufferDropReason.QueueFull), new(2, WeightedBufferDropReason.QueueFull));
        Assert.Equal(10, rig.Control.Held);

        await rig.Down.RequestAsync(10);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectNextAsync(5);
        await rig.Down.ExpectNextAsync(1);
        await rig.Down.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_evict_the_oldest_queued_elements_until_the_new_one_fits_under_DropOldest()
    {
        var rig = Materialize(10, FullPolicy.DropOldest);
        await rig.Down.EnsureSubscriptionAsync();

        await TakenAsync(rig, 2, 3, 4, 6);
        await DroppedExactlyAsync(new(2, WeightedBufferDropReason.Evicted), new(3, WeightedBufferDropReason.Evicted));
        Assert.Equal(10, rig.Control.Held);

        await rig.Down.RequestAsync(10);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectNextAsync(6);
        await rig.Down.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_drop_the_new_element_under_DropOldest_when_the_weight_in_flight_leaves_no_room()
    {
        var rig = Materialize(10, FullPolicy.DropOldest);
        await rig.Down.RequestAsync(1);
        await TakenAsync(rig, 7);
        await rig.Down.ExpectNextAsync(7);

        await TakenAsync(rig, 2, 4); // 7 in flight + 4 is over even with 2 evicted, so 2 stays and 4 goes
        await DroppedExactlyAsync(new Dropped(4, WeightedBufferDropReason.QueueFull));
        Assert.Equal(9, rig.Control.Held);

        await rig.Down.RequestAsync(10);
        await rig.Down.ExpectNextAsync(2);
        await rig.Down.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_emit_everything_it_holds_then_complete_without_waiting_for_releases()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await TakenAsync(rig, 3, 4, 5); // 5 waits for room
        await rig.Up.SendCompleteAsync();

        await rig.Down.RequestAsync(10);
        await rig.Down.ExpectNextAsync(3);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectNextAsync(5);
        await rig.Down.ExpectCompleteAsync();
        await DroppedExactlyAsync();
        Assert.Equal(12, rig.Control.Held);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_take_releases_off_the_held_weight_after_it_has_completed()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(10);
        await TakenAsync(rig, 3, 4);
        await rig.Up.SendCompleteAsync();
        await rig.Down.ExpectNextAsync(3);
        await rig.Down.ExpectNextAsync(4);
        await rig.Down.ExpectCompleteAsync();

        rig.Control.Release(3);
        await HeldBecomesAsync(rig, 4);
        rig.Control.Release(4);
        await HeldBecomesAsync(rig, 0);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_fail_at_once_on_upstream_failure_and_hand_what_it_holds_to_the_drop_callback()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(1);
        await TakenAsync(rig, 2);
        await rig.Down.ExpectNextAsync(2);
        await TakenAsync(rig, 3, 4, 5); // 2 + 3 + 4 leave no room for 5, which waits

        var boom = new TestException("upstream broke");
        await rig.Up.SendErrorAsync(boom);

        Assert.Same(boom, await rig.Down.ExpectErrorAsync());
        // 2 was emitted before the failure: delivering it is the downstream's business, and it stays held until released.
        await DroppedExactlyAsync(
            new(3, WeightedBufferDropReason.Failed), new(4, WeightedBufferDropReason.Failed), new(5, WeightedBufferDropReason.Failed));
        await HeldBecomesAsync(rig, 2);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_cancel_upstream_on_downstream_cancel_and_hand_what_it_holds_to_the_drop_callback()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(1);
        await TakenAsync(rig, 2);
        await rig.Down.ExpectNextAsync(2);
        await TakenAsync(rig, 3, 4);

        rig.Down.Cancel();

        await rig.Up.ExpectCancellationAsync();
        await DroppedExactlyAsync(new(3, WeightedBufferDropReason.Cancelled), new(4, WeightedBufferDropReason.Cancelled));
        await HeldBecomesAsync(rig, 2);
        rig.Control.Release(2);
        await HeldBecomesAsync(rig, 0);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_fail_and_hand_over_an_element_it_cannot_weigh()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.EnsureSubscriptionAsync();
        await TakenAsync(rig, 3, -1);

        Assert.IsType<InvalidOperationException>(await rig.Down.ExpectErrorAsync());
        await DroppedExactlyAsync(new(-1, WeightedBufferDropReason.Failed), new(3, WeightedBufferDropReason.Failed));
        await rig.Up.ExpectCancellationAsync();
    }

    [Fact]
    public async Task A_WeightedBuffer_must_apply_releases_made_concurrently_from_other_threads()
    {
        const int elements = 10, weight = 1_000, writers = 8;
        var rig = Materialize(elements * weight, FullPolicy.Backpressure, _ => weight);
        await rig.Down.RequestAsync(elements + 1);
        for (var i = 0; i < elements; i++)
            await TakenAsync(rig, i);
        await NotTakenAsync(rig, elements);
        await rig.Down.ExpectNextNAsync(Enumerable.Range(0, elements));

        // Writers on pool threads release it all a point at a time, racing one another and the stage as it applies
        // what they released: a lost release would leave weight held for ever.
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < elements * weight / writers; i++)
                rig.Control.Release(1);
        })));

        await rig.Up.ExpectRequestAsync();
        await rig.Down.ExpectNextAsync(elements);
        await HeldBecomesAsync(rig, weight);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_report_the_weight_it_holds_queued_and_in_flight()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        Assert.Equal(10, rig.Control.Capacity);
        Assert.Equal(0, rig.Control.Held);

        await TakenAsync(rig, 4);
        await HeldBecomesAsync(rig, 4);

        await rig.Down.RequestAsync(1);
        await rig.Down.ExpectNextAsync(4);
        await TakenAsync(rig, 3);
        await HeldBecomesAsync(rig, 7); // 4 in flight, 3 queued

        rig.Control.Release(4);
        await HeldBecomesAsync(rig, 3);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_not_keep_a_release_larger_than_what_is_in_flight_as_credit()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        await rig.Down.RequestAsync(1);
        await TakenAsync(rig, 4);
        await rig.Down.ExpectNextAsync(4);

        rig.Control.Release(100);
        await HeldBecomesAsync(rig, 0);

        await TakenAsync(rig, 6, 4);
        await NotTakenAsync(rig, 1);
        Assert.Equal(10, rig.Control.Held);
    }

    [Fact]
    public void A_WeightedBuffer_must_refuse_a_negative_release()
    {
        var rig = Materialize(10, FullPolicy.Backpressure);
        Assert.Throws<ArgumentOutOfRangeException>(() => rig.Control.Release(-1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void A_WeightedBuffer_must_refuse_a_capacity_that_is_not_positive(long capacity)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new WeightedBuffer<int>(capacity, x => x, FullPolicy.Backpressure, (_, _) => { }));
        Assert.Equal("capacity", e.ParamName);
    }

    [Fact]
    public async Task A_WeightedBuffer_must_materialize_its_control_from_the_WeightedBuffer_extension()
    {
        var (control, all) = Source.From(new[] { 1, 2, 3 })
            .WeightedBuffer(10, x => x, FullPolicy.Backpressure, (element, reason) => _drops.Ref.Tell(new Dropped(element, reason)))
            .ToMaterialized(Sink.Seq<int>(), Keep.Both)
            .Run(_materializer);

        Assert.Equal(new[] { 1, 2, 3 }, await all);
        Assert.Equal(10, control.Capacity);
        Assert.Equal(6, control.Held);
    }
}
