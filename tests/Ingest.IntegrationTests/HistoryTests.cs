using System.Globalization;
using System.Net;
using System.Text.Json;
using Ingest.IntegrationTests.Daemon;
using Ingest.IntegrationTests.Oracle;
using Ingest.IntegrationTests.Servers;

namespace Ingest.IntegrationTests;

/// <summary><c>GET /api/history</c> answers what InfluxDB itself holds, raw or per tier.</summary>
public class HistoryTests
{
    private const long S = RawDataSet.Second, M = RawDataSet.Minute, T0 = RawDataSet.Base;

    private static string Iso(long ns) => DateTimeOffset.UnixEpoch.AddTicks(ns / 100).ToString("O", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Raw_and_tier_answers_equal_InfluxDB_own_queries_and_bad_requests_get_400()
    {
        await using var stack = await IngestStack.StartAsync(DownsampleOracleTests.TierSettings());
        var db = ServersFixture.UniqueName("hist");
        var rng = new Random(8);
        // Eight minutes, a point every 10 s, two hosts.
        var lines = Enumerable.Range(0, 48).SelectMany(i => new[] { "a", "b" }.Select(h =>
            $"hist,host={h} v={(rng.NextDouble() * 100).ToString("R", CultureInfo.InvariantCulture)} {T0 + i * 10 * S}")).ToList();
        await DaemonApi.WriteAsync(stack, db, lines, perRequest: 16);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "hist") == lines.Count, TimeSpan.FromSeconds(20)), DaemonApi.Tail(stack));
        await DaemonApi.FlushAsync(stack);
        Assert.True(await DaemonApi.WaitUntilAsync(async () => await stack.Influx.CountAsync(db, "hist_1m", "v_max") == 16, TimeSpan.FromSeconds(20)), DaemonApi.Tail(stack));

        var range = $"db={db}&measurement=hist&field=v&from={Uri.EscapeDataString(Iso(T0))}&to={Uri.EscapeDataString(Iso(T0 + 8 * M))}";

        // Raw, one host: every point, in time order.
        var raw = await Get(stack, $"api/history?{range}&tier=raw&tag=host:a");
        Assert.Equal("raw", raw.GetProperty("tier").GetString());
        var rawSeries = Assert.Single(raw.GetProperty("series").EnumerateArray());
        var expectedRaw = lines.Where(l => l.StartsWith("hist,host=a ")).Select(l => double.Parse(l.Split(' ')[1][2..], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(expectedRaw, rawSeries.GetProperty("values").EnumerateArray().Select(r => r[1].GetDouble()).ToList());

        // The 1m tier's max per window equals InfluxQL's max() per minute over the raw points, for both hosts.
        var tier = await Get(stack, $"api/history?{range}&tier=1m&agg=max");
        Assert.Equal("hist_1m", tier.GetProperty("measurement").GetString());
        var oracle = await stack.Influx.QueryAsync(db, $"SELECT max(v) FROM hist WHERE time >= {T0} AND time < {T0 + 8 * M} GROUP BY time(1m), host");
        var expected = oracle.GetProperty("results")[0].GetProperty("series").EnumerateArray()
            .ToDictionary(s => s.GetProperty("tags").GetProperty("host").GetString()!, s => s.GetProperty("values").EnumerateArray().Select(r => r[1].GetDouble()).ToList());
        var actual = tier.GetProperty("series").EnumerateArray()
            .ToDictionary(s => s.GetProperty("tags").GetProperty("host").GetString()!, s => s.GetProperty("values").EnumerateArray().Select(r => r[1].GetDouble()).ToList());
        Assert.Equal(2, actual.Count);
        foreach (var host in expected.Keys) Assert.Equal(expected[host], actual[host]);

        foreach (var bad in new[] { "api/history?field=v", $"api/history?{range}&tier=7m", $"api/history?{range}&agg=median", $"api/history?{range}&from=yesterday", $"api/history?{range}&tag=novalue" })
        {
            using var response = await stack.Client.GetAsync(bad);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{bad}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<JsonElement> Get(IngestStack stack, string path)
    {
        using var response = await stack.Client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
