using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Ingest.Configuration;
using Ingest.IntegrationTests.Servers;
using Ingest.LineProtocol;
using Ingest.Sinks.Redis;
using Ingest.Telemetry;
using Ingest.Transforms.Live;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Ingest.IntegrationTests;

/// <summary>
/// The daemon's Redis connection and live-state writer in process, against a real redis-server: the protocol it
/// speaks, what a command does while Redis is down, and every series of a large flush arriving with its own values.
/// </summary>
public class RedisClientTests
{
    private static IngestOptions Options(RedisServer redis) => new() { Redis = new RedisOptions { Configuration = redis.ConnectionString } };

    private sealed class Meters : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);
        public void Dispose() { }
    }

    /// <summary>The connections redis-server lists, other than the one asking.</summary>
    private static async Task<string[]> OtherClientsAsync(RedisServer redis) =>
        ((string)(await redis.CommandAsync("CLIENT", "LIST"))!).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.Contains("cmd=client|list", StringComparison.Ordinal)).ToArray();

    [Fact]
    public async Task The_daemon_speaks_RESP3_and_keeps_commands_off_the_subscription_connection()
    {
        await using var redis = await RedisServer.StartNewAsync();
        using var connection = new RedisConnection(Options(redis));
        var multiplexer = await connection.GetAsync();
        await multiplexer.GetDatabase().PingAsync();

        var clients = await OtherClientsAsync(redis);
        var shown = string.Join("\n", clients);
        Assert.True(clients.Length == 2 && clients.All(c => c.Contains(" resp=3", StringComparison.Ordinal)), shown);
        // The client's own subscription (its configuration channel) has a connection to itself: a subscribed
        // connection falls under redis-server's pub/sub output limits, which a flush's pipelined replies could exceed.
        var commands = Assert.Single(clients, c => c.Contains(" cmd=ping ", StringComparison.Ordinal));
        Assert.Contains(" sub=0 ", commands);
    }

    [Fact]
    public async Task While_Redis_is_down_a_command_fails_at_once_instead_of_waiting_for_it()
    {
        await using var redis = await RedisServer.StartNewAsync();
        // A client that queued commands until reconnected would hold this ping for a minute.
        var configuration = redis.ConnectionString + ",syncTimeout=60000,asyncTimeout=60000";
        using var connection = new RedisConnection(new IngestOptions { Redis = new RedisOptions { Configuration = configuration } });
        var multiplexer = await connection.GetAsync();
        var db = multiplexer.GetDatabase();
        await db.PingAsync();
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Commands go on the interactive connection; the subscription one fails and returns on its own.
        multiplexer.ConnectionFailed += (_, a) =>
        {
            if (a.ConnectionType == ConnectionType.Interactive) failed.TrySetResult();
        };
        multiplexer.ConnectionRestored += (_, a) =>
        {
            if (a.ConnectionType == ConnectionType.Interactive) restored.TrySetResult();
        };

        await redis.StopAsync();
        await failed.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var e = await Record.ExceptionAsync(() => db.PingAsync().WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(e is RedisConnectionException, $"while Redis is down a ping should be refused for want of a connection, not wait: {e}");

        await redis.StartAsync();
        await restored.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await db.PingAsync();
    }

    [Fact]
    public async Task Every_series_of_a_flush_reaches_Redis_with_its_own_values_across_chunks()
    {
        await using var redis = await RedisServer.StartNewAsync();
        using var connection = new RedisConnection(Options(redis));
        using var meter = new IngestMeter(new Meters());
        var live = new LiveStateTransform(new LiveOptions(), "metrics");
        var writer = new LiveStateWriter(live, connection, meter, NullLogger<LiveStateWriter>.Instance);
        // More series than one pipelined chunk, 1 to 6 fields each, every value its own; written twice, so the
        // second flush goes through the buffers and field lists the first one used.
        const int Series = 4_500;
        string Value(int series, int field, int round) => field % 3 == 2
            ? $"\"s{series}.{field}.{round}\""
            : field % 3 == 1 ? $"{series * 10 + field + round}i" : $"{series}.{field}{round}";
        string Text(int series, int field, int round) => Value(series, field, round).Trim('"').TrimEnd('i');
        for (var round = 0; round < 2; round++)
        {
            var body = new StringBuilder();
            for (var s = 0; s < Series; s++)
            {
                body.Append("m,id=").Append(s).Append(' ');
                body.AppendJoin(',', Enumerable.Range(0, s % 6 + 1).Select(f => $"f{f}={Value(s, f, round)}"));
                body.Append(' ').Append(1_000_000 * round + s).Append('\n');
            }
            var batch = new PointBatch();
            Assert.Equal(0, new LineProtocolParser().Parse(Encoding.UTF8.GetBytes(body.ToString()), Precision.Nanoseconds, 0, batch).BadLines);
            live.Process(batch, null!);
            await writer.FlushAsync();
        }

        var db = (await connection.GetAsync()).GetDatabase();
        var reads = Enumerable.Range(0, Series).Select(s => db.HashGetAllAsync($"ingest:live:metrics:m,id={s}")).ToArray();
        await Task.WhenAll(reads);
        var wrong = new List<string>();
        for (var s = 0; s < Series && wrong.Count < 5; s++)
        {
            var expected = Enumerable.Range(0, s % 6 + 1)
                .SelectMany(f => new[] { ($"f{f}", Text(s, f, 1)), ($"f{f}:ts", (1_000_000 + s).ToString(CultureInfo.InvariantCulture)) })
                .OrderBy(x => x.Item1, StringComparer.Ordinal);
            var actual = reads[s].Result.Select(e => (e.Name.ToString(), e.Value.ToString())).OrderBy(x => x.Item1, StringComparer.Ordinal);
            if (!expected.SequenceEqual(actual)) wrong.Add($"m,id={s}: expected {string.Join(" ", expected)}, got {string.Join(" ", actual)}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        // One independent reader as well: what the raw protocol returns for the last series.
        Assert.Equal(Text(Series - 1, 2, 1), await redis.CommandAsync("HGET", $"ingest:live:metrics:m,id={Series - 1}", "f2"));
        Assert.Equal((long)Series, await redis.CommandAsync("ZCARD", new RedisOptions().LiveIndexKey));
        Assert.Equal((long)Series + 1, await redis.CommandAsync("DBSIZE"));
    }
}
