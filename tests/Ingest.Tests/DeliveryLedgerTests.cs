using Ingest.Durability;
using Ingest.LineProtocol;

namespace Ingest.Tests;

public class DeliveryLedgerTests
{
    private static PointBatch Record(long sequence)
    {
        var b = TestBatches.Make(1);
        b.Sequence = sequence;
        return b;
    }

    [Fact]
    public void A_logged_record_is_pending_for_each_consumer_of_records_until_that_consumer_finishes_it()
    {
        var ledger = new DeliveryLedger(0, 0, 0, followsChecks: true);
        ledger.Logged(1);
        ledger.Logged(2);

        ledger.Finished(LedgerConsumer.Raw, Record(2));
        ledger.Finished(LedgerConsumer.Transforms, 1);

        Assert.Equal(0, ledger.Checkpoint(LedgerConsumer.Raw));
        Assert.Equal(1, ledger.Checkpoint(LedgerConsumer.Transforms));
        Assert.Equal(0, ledger.Checkpoint(LedgerConsumer.Check));
        Assert.Equal(2, ledger.Pending(LedgerConsumer.Check));

        ledger.Finished(LedgerConsumer.Raw, Record(1));
        Assert.Equal(2, ledger.Checkpoint(LedgerConsumer.Raw));
    }

    [Fact]
    public void Delivering_a_derived_batch_never_finishes_the_log_record_of_the_same_number()
    {
        var ledger = new DeliveryLedger(0, 0, 0, followsChecks: true);
        ledger.Logged(1);
        // A window batch emitted while record 1 is processed: emission 1, no log record of its own.
        var windows = TestBatches.Make(3);
        windows.Emission = 1;
        ledger.Emitted(LedgerConsumer.Derived, windows);

        ledger.Finished(LedgerConsumer.Derived, windows);

        Assert.Equal(0, ledger.Pending(LedgerConsumer.Derived));
        Assert.Equal(1, ledger.Pending(LedgerConsumer.Raw));
        Assert.Equal(1, ledger.Pending(LedgerConsumer.Transforms));
        Assert.Equal(0, ledger.Checkpoint(LedgerConsumer.Raw));
    }

    [Fact]
    public void Log_records_are_not_emitted_and_derived_batches_are_not_replayed()
    {
        var ledger = new DeliveryLedger();
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Emitted(LedgerConsumer.Raw, Record(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Needs(LedgerConsumer.Derived, 1));
    }

    [Fact]
    public void A_replayed_record_is_pending_only_for_the_consumers_that_had_not_finished_it_before_the_restart()
    {
        var ledger = new DeliveryLedger(5, 2, 6, followsChecks: true);
        // Raw delivered through 5; the windows' snapshot holds 4 and everything through 2; the alert state covers through 6.
        ledger.ReplayBounds(rawDoneThrough: 5, transformsFrom: 3, checkFrom: 7, transformsSkip: [4]);
        for (long s = 3; s <= 8; s++) ledger.Replayed(s);

        Assert.Equal(3, ledger.Pending(LedgerConsumer.Raw));          // 6, 7, 8
        Assert.Equal(5, ledger.Pending(LedgerConsumer.Transforms));   // 3, 5, 6, 7, 8
        Assert.Equal(2, ledger.Pending(LedgerConsumer.Check));        // 7, 8
        Assert.False(ledger.Needs(LedgerConsumer.Transforms, 4));
        Assert.True(ledger.Needs(LedgerConsumer.Raw, 0), "a batch never logged is always needed");
    }

    [Fact]
    public void Without_a_saved_alert_state_the_check_is_not_followed()
    {
        var ledger = new DeliveryLedger(0, 0, 0, followsChecks: false);
        ledger.Logged(1);
        ledger.Replayed(2);
        Assert.Equal(0, ledger.Pending(LedgerConsumer.Check));
        Assert.Equal(2, ledger.Pending(LedgerConsumer.Raw));
    }
}
