using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;

namespace Ingest.Transforms.Tests;

/// <summary>The glob matcher: exact against a plain reference matcher, linear in time, free of allocation.</summary>
public class GlobTests
{
    /// <summary>Dynamic programming over every (pattern prefix, text prefix): obviously right, O(n·m).</summary>
    private static bool Reference(string pattern, string text)
    {
        var row = new bool[text.Length + 1];
        row[0] = true;
        foreach (var p in pattern)
        {
            var next = new bool[text.Length + 1];
            if (p == '*')
            {
                for (var j = 0; j <= text.Length; j++) next[j] = row[j] || (j > 0 && next[j - 1]);
            }
            else
            {
                for (var j = 1; j <= text.Length; j++) next[j] = row[j - 1] && (p == '?' || p == text[j - 1]);
            }
            row = next;
        }
        return row[text.Length];
    }

    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(10_000);

    private static Gen<string> Strings(string alphabet, int maxLength) =>
        Gen.Elements(alphabet.ToCharArray()).ArrayOf().Select(a => new string(a.Length > maxLength ? a[..maxLength] : a));

    [Fact]
    public void Agrees_with_the_reference_on_random_patterns_and_names()
    {
        // Two letters make near-misses frequent: repeated pieces, overlapping borders, stars that must backtrack.
        var cases = Strings("ab?*", 12).Zip(Strings("ab", 20));
        Prop.ForAll(cases.ToArbitrary(), c => Glob.IsMatch(c.Item1, c.Item2) == Reference(c.Item1, c.Item2)).Check(Many);
    }

    [Fact]
    public void Agrees_with_the_reference_on_patterns_cut_from_the_name()
    {
        // Patterns derived from the name itself (some characters turned into '?', some runs into '*', some
        // characters changed) match far more often than random ones, so both answers are exercised.
        var derived =
            from name in Strings("abc", 40)
            from edits in Gen.Choose(0, 5).ArrayOf()
            from seed in Gen.Choose(0, int.MaxValue)
            select (Derive(name, edits, new Random(seed)), name);
        Prop.ForAll(derived.ToArbitrary(), c => Glob.IsMatch(c.Item1, c.Item2) == Reference(c.Item1, c.Item2)).Check(Many);
    }

    private static string Derive(string name, int[] edits, Random random)
    {
        var p = name.ToList();
        foreach (var e in edits)
        {
            if (p.Count == 0) break;
            var at = random.Next(p.Count);
            switch (e)
            {
                case 0: p[at] = '?'; break;
                case 1: p.RemoveRange(at, random.Next(Math.Min(4, p.Count - at) + 1)); p.Insert(at, '*'); break;
                case 2: p[at] = "abc*?"[random.Next(5)]; break;
                case 3: p.Insert(at, '*'); break;
                default: p.RemoveAt(at); break;
            }
        }
        return new string(p.ToArray());
    }

    [Fact]
    public void Agrees_with_the_reference_on_long_pieces_with_wildcards_inside()
    {
        // Pieces longer than 64 characters span several words of the bit-parallel search, and longer than 256
        // the pooled table of the literal search.
        var random = new Random(7);
        for (var n = 0; n < 300; n++)
        {
            var name = new string(Enumerable.Range(0, random.Next(100, 700)).Select(_ => random.Next(10) == 0 ? 'b' : 'a').ToArray());
            var start = random.Next(name.Length / 2);
            var piece = name.Substring(start, random.Next(1, name.Length - start)).ToCharArray();
            if (random.Next(2) == 0) piece[random.Next(piece.Length)] = '?';
            if (random.Next(3) == 0) piece[random.Next(piece.Length)] = 'b';
            foreach (var pattern in new[] { "*" + new string(piece) + "*", "?*" + new string(piece) + "*a", "*" + new string(piece) })
                Assert.True(Reference(pattern, name) == Glob.IsMatch(pattern, name), $"{pattern} against {name}");
        }
    }

    [Theory]
    [InlineData("*", "", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("**", "x", true)]
    [InlineData("a*a", "a", false)]
    [InlineData("a*a", "aa", true)]
    [InlineData("*?", "", false)]
    [InlineData("*ab?*", "xxab", false)]
    [InlineData("*ab?*", "xxabc", true)]
    [InlineData("*??b?*", "abab", false)]
    [InlineData("*a?c*", "abdabc", true)]
    [InlineData("*abab*c", "ababaabab-c", true)]
    [InlineData("web-*", "web-01", true)]
    [InlineData("*-eu-*", "db-eu-2", true)]
    public void Matches_the_edge_cases(string pattern, string text, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, text));

    private static readonly string Long = new('a', 1_000_000);

    // Each took the backtracking matcher about n·m steps (30 000 × 1 000 000 and more); linear now.
    private static readonly Dictionary<string, string> Costly = new()
    {
        ["anchored tail"] = "*" + new string('a', 30_000) + "b",
        ["middle piece"] = "*" + new string('a', 30_000) + "b*",
        ["middle piece with a wildcard"] = "*" + new string('a', 500) + "?" + new string('a', 500) + "b*",
        ["several pieces"] = "*a*" + new string('a', 1_000) + "b*",
    };

    [Theory]
    [InlineData("anchored tail")]
    [InlineData("middle piece")]
    [InlineData("middle piece with a wildcard")]
    [InlineData("several pieces")]
    public async Task Pathological_patterns_take_linear_time(string name)
    {
        var timer = Stopwatch.StartNew();
        var match = Task.Run(() => Glob.IsMatch(Costly[name], Long));
        // Linear work here is a few million character steps (milliseconds); n·m is tens of billions (minutes).
        Assert.True(await Task.WhenAny(match, Task.Delay(TimeSpan.FromSeconds(5))) == match, $"still matching after {timer.Elapsed.TotalSeconds:F0} s");
        Assert.False(await match);
    }

    [Fact]
    public void Matching_allocates_nothing()
    {
        var name = "host-" + new string('x', 300) + "-eu-west-1";
        var bytes = Allocations.Fewest(() =>
        {
            Glob.IsMatch("host-*-eu-*-1", name);
            Glob.IsMatch("*west*", name);
            Glob.IsMatch("*" + "x?x" + "*", name);
            Glob.IsMatch("h?st-*" + "xxxxxxxx" + "*", name);
        });
        Assert.Equal(0, bytes);
    }
}
