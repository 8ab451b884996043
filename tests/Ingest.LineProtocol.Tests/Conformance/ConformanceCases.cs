using System.Text.Json;

namespace Ingest.LineProtocol.Tests.Conformance;

/// <summary>Loads lineprotocol_cases.json once; cases are looked up by id so that each theory row is named.</summary>
internal static class ConformanceCases
{
    private static readonly Lazy<Dictionary<string, JsonElement>> Cases = new(Load);

    public static IEnumerable<object[]> Ids() => Cases.Value.Keys.Select(id => new object[] { id });

    public static JsonElement Get(string id) => Cases.Value[id];

    private static Dictionary<string, JsonElement> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Conformance", "lineprotocol_cases.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.EnumerateArray()
            .ToDictionary(c => c.GetProperty("id").GetString()!, c => c.Clone());
    }

    /// <summary>The precision the case is meant to be sent with: the 2.x name, or the 1.x one for m/h.</summary>
    public static Precision PrecisionOf(JsonElement testCase)
    {
        var precision = testCase.GetProperty("precision");
        var v2 = precision.GetProperty("v2_write");
        if (v2.ValueKind == JsonValueKind.String)
        {
            Assert.True(PrecisionExtensions.TryParseV2(v2.GetString(), out var p2));
            return p2;
        }
        Assert.True(PrecisionExtensions.TryParseV1(precision.GetProperty("v1_write").GetString(), out var p1));
        return p1;
    }

    public static bool Flag(JsonElement testCase, string name) =>
        testCase.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;
}
