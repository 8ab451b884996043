using System.Text;
using Ingest.Sources.Web;

namespace Ingest.Tests.Sources;

/// <summary>The text/event-stream format as the HTML standard's EventSource reads it.</summary>
public class SseParserTests
{
    private static List<(string Type, string Data, string Id)> Parse(SseParser parser, params string[] chunks)
    {
        var events = new List<(string, string, string)>();
        foreach (var chunk in chunks)
            parser.Feed(Encoding.UTF8.GetBytes(chunk), e => events.Add((e.Type, Encoding.UTF8.GetString(e.Data), e.LastEventId)));
        return events;
    }

    private static List<(string Type, string Data, string Id)> Parse(params string[] chunks) => Parse(new SseParser(), chunks);

    [Fact]
    public void Data_lines_are_joined_with_a_newline_and_one_space_after_the_colon_is_dropped()
    {
        Assert.Equal([("message", "a v=1\n b v=2\nc", "")], Parse("data: a v=1\ndata:  b v=2\ndata:c\n\n"));
    }

    [Fact]
    public void Every_line_end_counts_also_when_a_CRLF_is_split_between_reads()
    {
        Assert.Equal([("message", "x", ""), ("message", "y", ""), ("message", "z", "")],
            Parse("data: x\r", "\n\r", "\ndata: y\r\rdata: z\n", "\n"));
        // A CRLF split between two data lines of one event is one line end, not a blank line that would cut it.
        Assert.Equal([("message", "a\nb", "")], Parse("data: a\r", "\ndata: b\r\n\r\n"));
    }

    [Fact]
    public void Comments_unknown_fields_and_events_without_data_are_not_dispatched()
    {
        Assert.Equal([("message", "kept", "")], Parse(": comment\n\nevent: e\n\nfoo: bar\nnocolon\ndata: kept\n\n"));
    }

    [Fact]
    public void An_empty_data_field_is_an_event_with_empty_data()
    {
        Assert.Equal([("message", "", "")], Parse("data\n\n"));
    }

    [Fact]
    public void The_event_type_applies_to_one_event_only()
    {
        Assert.Equal([("alarm", "1", ""), ("message", "2", "")], Parse("event: alarm\ndata: 1\n\ndata: 2\n\n"));
    }

    [Fact]
    public void The_id_is_kept_for_later_events_and_one_holding_NUL_is_ignored()
    {
        var parser = new SseParser();
        Assert.Equal([("message", "a", "7"), ("message", "b", "7"), ("message", "b2", "7"), ("message", "c", "")],
            Parse(parser, "id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: b2\n\n", "id\ndata: c\n\n"));
        Assert.Equal("", parser.LastEventId);
        // An id on its own (no data) still sets the last event id at the blank line.
        Parse(parser, "id: 9\n\n");
        Assert.Equal("9", parser.LastEventId);
    }

    [Fact]
    public void Retry_takes_digits_only()
    {
        var parser = new SseParser();
        Parse(parser, "retry: 1500\n\n");
        Assert.Equal(TimeSpan.FromMilliseconds(1500), parser.Retry);
        Parse(parser, "retry: 2s\n\nretry: -1\n\nretry:\n\n");
        Assert.Equal(TimeSpan.FromMilliseconds(1500), parser.Retry);
    }

    [Fact]
    public void A_leading_byte_order_mark_is_skipped()
    {
        Assert.Equal([("message", "x", "")], Parse("\uFEFFdata: x\n\n"));
    }

    [Fact]
    public void An_event_cut_off_by_a_new_connection_is_dropped_and_the_last_id_kept()
    {
        var parser = new SseParser();
        Parse(parser, "id: 3\ndata: whole\n\nid: 4\ndata: cut");
        parser.Restart();
        Assert.Equal("3", parser.LastEventId);
        Assert.Equal([("message", "next", "3")], Parse(parser, "\ndata: next\n\n"));
    }
}
