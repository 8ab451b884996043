using System.Text;
using System.Threading.Channels;
using Akka;
using Akka.Actor;
using Akka.Streams.Dsl;
using Ingest.Configuration;
using Ingest.LineProtocol;
using Ingest.Sources;
using Ingest.Telemetry;
using Ingest.Tests.Admission;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingest.Tests.Sources;

/// <summary>
/// The graph every configured source runs in, with a connector of the test's own over the real admission (log,
/// buffer, threshold check): what is acknowledged upstream, what is offered again, what is counted.
/// </summary>
public sealed class SourceRunnerTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly AdmissionRig _rig = new();
    private readonly ActorSystem _system = ActorSystem.Create("source-runner-tests");
    private SourceRunner? _runner;
    private SourceInstruments? _instruments;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_runner is not null) await _runner.StopAsync(CancellationToken.None);
        await _system.Terminate();
        _rig.Dispose();
    }

    /// <summary>A connector reading from a channel the test writes to; <paramref name="failFirst"/> fails its first run after one message.</summary>
    private sealed class TestConnector(SourceDelivery delivery, Channel<SourceMessage> channel, bool failFirst = false) : ISourceConnector
    {
        private int _runs;

        public SourceDelivery Delivery => delivery;

        public Source<SourceMessage, NotUsed> Messages(SourceContext context)
        {
            context.Telemetry.SetState(SourceState.Connected);
            var source = Source.ChannelReader(channel.Reader);
            return failFirst && Interlocked.Increment(ref _runs) == 1
                ? source.Take(1).Concat(Source.Failed<SourceMessage>(new IOException("upstream went away")))
                : source;
        }
    }

    private SourceTelemetry Start(SourceDelivery delivery, Channel<SourceMessage> channel, bool failFirst = false, int bufferCapacity = SourceOptions.DefaultBufferCapacity)
    {
        var typeName = "test-" + Guid.NewGuid().ToString("N")[..8];
        var connector = new TestConnector(delivery, channel, failFirst);
        SourceCatalog.Add(new SourceType(typeName, delivery, _ => new object(), (_, _) => connector));
        var options = new IngestOptions
        {
            Sources = [new SourceOptions { Name = "feed", Type = typeName, BatchInterval = TimeSpan.FromMilliseconds(5), BufferCapacity = bufferCapacity,
                FullPolicy = delivery == SourceDelivery.AtLeastOnce ? Ingest.Graph.FullPolicy.Backpressure : Ingest.Graph.FullPolicy.DropOldest }],
        };
        _instruments = new SourceInstruments(TestMeters.Create());
        _runner = new SourceRunner(options, _rig.Admission, _instruments, new LineProtocolParser(), new EmptyServices(), _system,
            NullLoggerFactory.Instance, NullLogger<SourceRunner>.Instance);
        _runner.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return _instruments.Sources.Single();
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private static (SourceMessage Message, TaskCompletionSource Acked) Message(string lines)
    {
        var acked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var message = new SourceMessage(Encoding.UTF8.GetBytes(lines), SourceMessage.Now(), "test", () =>
        {
            acked.TrySetResult();
            return ValueTask.CompletedTask;
        });
        return (message, acked);
    }

    private static async Task<bool> WaitUntilAsync(Func<bool> done)
    {
        var until = DateTime.UtcNow + Patience;
        while (!done())
        {
            if (DateTime.UtcNow > until) return false;
            await Task.Delay(20);
        }
        return true;
    }

    [Fact]
    public async Task An_at_least_once_message_is_acknowledged_only_once_admitted_and_offered_again_after_a_refusal()
    {
        var channel = Channel.CreateUnbounded<SourceMessage>();
        var telemetry = Start(SourceDelivery.AtLeastOnce, channel);
        _rig.Admission.Paused = true;
        var (message, acked) = Message("m v=1 1\nm v=2 2\n");
        await channel.Writer.WriteAsync(message);

        var stage = _rig.Telemetry.Stages.Single(s => s.Name == "feed");
        Assert.True(await WaitUntilAsync(() => stage.Dropped.ContainsKey("paused")), "admission never refused the message");
        Assert.False(acked.Task.IsCompleted, "acknowledged upstream although admission refused it");
        Assert.Equal(0, _rig.Buffer.Depth);

        _rig.Admission.Paused = false;
        await acked.Task.WaitAsync(Patience);
        Assert.Equal(2, _rig.Buffer.Depth);
        Assert.All(telemetry.Dropped.Values, dropped => Assert.Equal(0, dropped));
    }

    [Fact]
    public async Task The_source_buffer_frees_a_batchs_room_once_it_is_admitted()
    {
        var channel = Channel.CreateUnbounded<SourceMessage>();
        Start(SourceDelivery.AtLeastOnce, channel, bufferCapacity: 2);
        // One batch at a time, each acknowledged before the next is sent: far more batches than the buffer holds.
        for (int i = 0; i < 10; i++)
        {
            var (message, acked) = Message($"m v={i} {i + 1}\n");
            await channel.Writer.WriteAsync(message);
            await acked.Task.WaitAsync(Patience);
        }
        Assert.Equal(10, _rig.Buffer.Depth);
    }

    [Fact]
    public async Task An_at_most_once_message_refused_by_admission_is_dropped_and_counted()
    {
        var channel = Channel.CreateUnbounded<SourceMessage>();
        var telemetry = Start(SourceDelivery.AtMostOnce, channel);
        _rig.Admission.Paused = true;
        var (message, acked) = Message("m v=1 1\nm v=2 2\nm v=3 3\n");
        await channel.Writer.WriteAsync(message);

        Assert.True(await WaitUntilAsync(() => telemetry.Dropped.GetValueOrDefault("refused") == 3), "the refused points were not counted");
        Assert.False(acked.Task.IsCompleted);
        Assert.Equal(0, _rig.Buffer.Depth);
    }

    [Fact]
    public async Task Bad_lines_are_counted_and_the_source_goes_on()
    {
        var channel = Channel.CreateUnbounded<SourceMessage>();
        var telemetry = Start(SourceDelivery.AtLeastOnce, channel);
        var (first, firstAcked) = Message("m v=1 1\nnot a line\nm v= 2\n");
        var (second, secondAcked) = Message("m v=3 3\n");
        await channel.Writer.WriteAsync(first);
        await channel.Writer.WriteAsync(second);

        await Task.WhenAll(firstAcked.Task, secondAcked.Task).WaitAsync(Patience);
        Assert.Equal(2, _rig.Buffer.Depth);
        Assert.Equal(2, telemetry.DecodeErrors);
        Assert.Equal(2, telemetry.Messages);
        Assert.Equal(2, telemetry.Points);
    }

    [Fact]
    public async Task A_connector_that_fails_is_started_again_and_the_reconnect_counted()
    {
        var channel = Channel.CreateUnbounded<SourceMessage>();
        var telemetry = Start(SourceDelivery.AtLeastOnce, channel, failFirst: true);
        var (first, firstAcked) = Message("m v=1 1\n");
        await channel.Writer.WriteAsync(first);
        await firstAcked.Task.WaitAsync(Patience);
        Assert.True(await WaitUntilAsync(() => telemetry.Reconnects == 1), $"reconnects: {telemetry.Reconnects}, state {telemetry.State}");

        var (second, secondAcked) = Message("m v=2 2\n");
        await channel.Writer.WriteAsync(second);
        await secondAcked.Task.WaitAsync(Patience);
        Assert.Equal(2, _rig.Buffer.Depth);
        Assert.Equal("upstream went away", telemetry.LastError);
    }
}
