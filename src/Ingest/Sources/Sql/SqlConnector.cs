using System.Buffers;
using System.Data.Common;
using Akka;
using Akka.Streams.Dsl;
using Akka.Util;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Sources.Sql;

/// <summary>
/// Polls a database: every <see cref="SqlSettings.Interval"/> it runs the query on a fresh (pooled) connection and
/// gives its rows as one line-protocol message (see <see cref="SqlRowWriter"/>); a poll without rows gives none
/// (Akka.Streams carries no nulls, hence the <see cref="Option{T}"/>).
/// A poll that fails (database away, query refused, a mapped column missing, <see cref="SqlSettings.Timeout"/>
/// passed) sets the source backing off with the reason and the next tick tries again, so the stream itself never
/// fails. Ticks that come while a poll still runs are skipped, not queued.
/// </summary>
internal sealed partial class SqlConnector(SqlSettings settings) : ISourceConnector
{
    // Read and written by one poll at a time (SelectAsync with parallelism 1).
    private long? _lastTime;
    private bool _lost;

    public SourceDelivery Delivery => SourceDelivery.Polled;

    public Source<SourceMessage, NotUsed> Messages(SourceContext context) =>
        Source.Tick(TimeSpan.Zero, settings.Interval, NotUsed.Instance)
            .SelectAsync(1, _ => PollAsync(context))
            .Where(m => m.HasValue)
            .Select(m => m.Value)
            .MapMaterializedValue(_ => NotUsed.Instance);

    private async Task<Option<SourceMessage>> PollAsync(SourceContext context)
    {
        var started = SourceMessage.Now();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping);
        timeout.CancelAfter(settings.Timeout);
        try
        {
            await using var connection = Connect();
            await connection.OpenAsync(timeout.Token).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = settings.Query;
            command.CommandTimeout = (int)Math.Ceiling(settings.Timeout.TotalSeconds);
            if (settings.Incremental)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = SqlSettings.LastTimeParameter;
                parameter.Value = settings.LastTimeValue(_lastTime ?? 0);
                command.Parameters.Add(parameter);
            }
            await using var reader = await command.ExecuteReaderAsync(timeout.Token).ConfigureAwait(false);
            var rows = SqlRowWriter.Resolve(reader, settings, "Sources:" + context.Name);
            // A fresh buffer per poll: the message's payload must stay as it is until the runner decoded it.
            var payload = new ArrayBufferWriter<byte>(4096);
            int count = 0, bad = 0;
            while (await reader.ReadAsync(timeout.Token).ConfigureAwait(false))
            {
                count++;
                if (!rows.Write(reader, started, payload)) bad++;
            }
            if (rows.NewestTime is { } newest && (_lastTime is null || newest > _lastTime)) _lastTime = newest;

            if (_lost) context.Telemetry.Reconnected();
            _lost = false;
            context.Telemetry.SetState(SourceState.Connected);
            LogPolled(context.Logger, context.Name, count, bad);
            return count == 0 ? Option<SourceMessage>.None : Option<SourceMessage>.Create(new SourceMessage(payload.WrittenMemory, started, settings.Target()));
        }
        catch (OperationCanceledException) when (context.Stopping.IsCancellationRequested)
        {
            return Option<SourceMessage>.None;
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException || (e is DbException && timeout.IsCancellationRequested)
                ? $"the poll did not finish within {Configuration.DurationParser.Format(settings.Timeout)} (Timeout)"
                : e.Message;
            _lost = true;
            context.Telemetry.SetState(SourceState.BackingOff, $"poll of {settings.Target()} failed: {reason}");
            return Option<SourceMessage>.None;
        }
    }

    private DbConnection Connect() => settings.Provider switch
    {
        SqlProvider.Sqlite => new SqliteConnection(settings.ConnectionString),
        _ => new NpgsqlConnection(settings.ConnectionString),
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Source {Source} polled {Rows} rows ({Bad} skipped)")]
    private static partial void LogPolled(ILogger logger, string source, int rows, int bad);
}
