using System.Buffers;

namespace Ingest.Transforms;

/// <summary>
/// <c>*</c> (any run, also empty) and <c>?</c> (one UTF-16 character) glob matching, ordinal: the one pattern
/// syntax of measurement, field and tag matchers in configuration, the feed and the live-state API. Allocates
/// nothing for patterns whose pieces between stars are up to 256 characters long (longer ones rent from the pool).
/// </summary>
/// <remarks>
/// <para><b>Method.</b> The pattern is cut at its stars into pieces S0 * S1 * … * Sk. Without a star the text must
/// match S0 character by character. With one, S0 must match the start of the text, Sk its end (the two not
/// overlapping), and S1 … Sk-1 must occur in that order, without overlapping, in what lies between. Each middle
/// piece is placed at its leftmost occurrence after the end of the previous one.</para>
/// <para><b>Why leftmost is enough.</b> Suppose some placement exists, with piece i ending at e(i), and the greedy
/// one ends piece i-1 at g(i-1) ≤ e(i-1). The placement's piece i starts at or after e(i-1) ≥ g(i-1), so the
/// leftmost occurrence at or after g(i-1) starts no later; a piece has a fixed length, so it ends at
/// g(i) ≤ e(i). By induction every middle piece is placed and the last one ends at or before where the tail
/// starts. The greedy placement is itself a placement, so the answer is exact.</para>
/// <para><b>Why it is linear.</b> Each search for a middle piece reads the text from the end of the previous
/// piece up to the end of the occurrence it finds (or to the end, and then the match fails), so the stretches
/// the searches read are disjoint and add up to at most n, the text's length. A piece without <c>?</c> (or with
/// <c>?</c> only at its ends, which become fixed offsets) is searched with Knuth–Morris–Pratt: its table costs
/// O(|piece|), and the scan at most two comparisons per character read (each comparison either reads a new
/// character or shortens the current partial match, which grew by at most one per character read). The anchored
/// head and tail cost O(|S0| + |Sk|) and cutting the pattern O(m). In all O(n + m), however the stars and the
/// letters are laid out: the backtracking matcher this replaced took O(n·m) for <c>*aaa…ab</c> against
/// <c>aaa…a</c>. Only a middle piece with a <c>?</c> inside costs more. It is searched bit-parallel (shift-and over w = ⌈|piece|/64⌉ words, each character's mask found by
/// binary search): O(|piece|·w) to build the masks, O(w + log |piece|) per character read. That is linear in
/// the text, with a factor the feed's and the API's cap on pattern length (<see cref="MaxPatternLength"/>:
/// w ≤ 16) keeps small. (Searching with single-character wildcards has no known simple linear method; the
/// general ones take O(n log m).)</para>
/// </remarks>
public static class Glob
{
    /// <summary>Longest pattern the feed and the live-state API take from a client (configuration is trusted).</summary>
    public const int MaxPatternLength = 1024;

    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        var firstStar = pattern.IndexOf('*');
        if (firstStar < 0) return pattern.Length == text.Length && MatchesAt(pattern, text);
        var lastStar = pattern.LastIndexOf('*');
        var head = pattern[..firstStar];
        var tail = pattern[(lastStar + 1)..];
        if (text.Length < head.Length + tail.Length) return false;
        if (!MatchesAt(head, text) || !MatchesAt(tail, text[(text.Length - tail.Length)..])) return false;

        var rest = text[head.Length..(text.Length - tail.Length)];
        var inner = firstStar == lastStar ? default : pattern[(firstStar + 1)..lastStar];
        while (!inner.IsEmpty)
        {
            var star = inner.IndexOf('*');
            var piece = star < 0 ? inner : inner[..star];
            inner = star < 0 ? default : inner[(star + 1)..];
            if (piece.IsEmpty) continue;
            var end = FindEnd(piece, rest);
            if (end < 0) return false;
            rest = rest[end..];
        }
        return true;
    }

    public static bool IsMatchAny(IReadOnlyList<string> patterns, ReadOnlySpan<char> text)
    {
        for (int i = 0; i < patterns.Count; i++)
        {
            if (IsMatch(patterns[i], text)) return true;
        }
        return false;
    }

    /// <summary>A star-free piece against the start of <paramref name="text"/>, which is at least as long.</summary>
    private static bool MatchesAt(ReadOnlySpan<char> piece, ReadOnlySpan<char> text)
    {
        for (var i = 0; i < piece.Length; i++)
        {
            if (piece[i] != '?' && piece[i] != text[i]) return false;
        }
        return true;
    }

    /// <summary>Where the leftmost occurrence of a star-free piece in <paramref name="text"/> ends; -1 for none.</summary>
    private static int FindEnd(ReadOnlySpan<char> piece, ReadOnlySpan<char> text)
    {
        if (piece.Length > text.Length) return -1;
        // '?' at the ends of a piece only shift where the rest may start and must end.
        var lead = 0;
        while (lead < piece.Length && piece[lead] == '?') lead++;
        var trail = 0;
        while (trail < piece.Length - lead && piece[piece.Length - 1 - trail] == '?') trail++;
        var core = piece[lead..(piece.Length - trail)];
        if (core.IsEmpty) return piece.Length;
        // The first occurrence that leaves no room for the trailing '?' means no later one does either.
        var searched = text[lead..(text.Length - trail)];
        var at = core.Contains('?') ? FindWithWildcards(core, searched) : FindLiteral(core, searched);
        return at < 0 ? -1 : lead + at + core.Length + trail;
    }

    /// <summary>Knuth–Morris–Pratt: the leftmost start of <paramref name="core"/> in <paramref name="text"/>, or -1.</summary>
    private static int FindLiteral(ReadOnlySpan<char> core, ReadOnlySpan<char> text)
    {
        if (core.Length == 1) return text.IndexOf(core[0]);
        int[]? rented = null;
        Span<int> border = core.Length <= 256 ? stackalloc int[256] : (rented = ArrayPool<int>.Shared.Rent(core.Length));
        // border[i]: length of the longest proper prefix of core[..(i + 1)] that is also its suffix.
        border[0] = 0;
        for (int i = 1, k = 0; i < core.Length; i++)
        {
            while (k > 0 && core[i] != core[k]) k = border[k - 1];
            if (core[i] == core[k]) k++;
            border[i] = k;
        }
        var found = -1;
        for (int i = 0, q = 0; i < text.Length; i++)
        {
            if (q == 0)
            {
                // Nothing matched yet: skip to the next occurrence of the first character (vectorized, still one
                // read per character skipped).
                var skip = text[i..].IndexOf(core[0]);
                if (skip < 0) break;
                i += skip;
            }
            while (q > 0 && text[i] != core[q]) q = border[q - 1];
            if (text[i] == core[q]) q++;
            if (q == core.Length)
            {
                found = i - core.Length + 1;
                break;
            }
        }
        if (rented is not null) ArrayPool<int>.Shared.Return(rented);
        return found;
    }

    /// <summary>
    /// Shift-and: bit j of the state says core[..(j + 1)] matches the text ending at the current character.
    /// The leftmost start of <paramref name="core"/> (with '?' inside, none at its ends) in <paramref name="text"/>, or -1.
    /// </summary>
    private static int FindWithWildcards(ReadOnlySpan<char> core, ReadOnlySpan<char> text)
    {
        var words = (core.Length + 63) >> 6;
        // The distinct characters of the core, sorted, each with the mask of the positions it holds; the '?'
        // positions have a mask of their own, which every character matches.
        var chars = ArrayPool<char>.Shared.Rent(core.Length);
        var distinct = 0;
        foreach (var c in core) if (c != '?') chars[distinct++] = c;
        Array.Sort(chars, 0, distinct);
        var unique = distinct == 0 ? 0 : 1;
        for (var i = 1; i < distinct; i++) if (chars[i] != chars[unique - 1]) chars[unique++] = chars[i];
        // Row `unique` holds the '?' positions, row `unique + 1` stays zero (a character the core does not hold).
        var masks = ArrayPool<ulong>.Shared.Rent((unique + 2) * words);
        var state = ArrayPool<ulong>.Shared.Rent(words);
        try
        {
            Array.Clear(masks, 0, (unique + 2) * words);
            Array.Clear(state, 0, words);
            var known = chars.AsSpan(0, unique);
            for (var j = 0; j < core.Length; j++)
            {
                var row = core[j] == '?' ? unique : known.BinarySearch(core[j]);
                masks[row * words + (j >> 6)] |= 1UL << (j & 63);
            }
            var wild = masks.AsSpan(unique * words, words);
            var last = words - 1;
            var done = 1UL << ((core.Length - 1) & 63);
            for (var i = 0; i < text.Length; i++)
            {
                var row = known.BinarySearch(text[i]);
                var mask = masks.AsSpan((row < 0 ? unique + 1 : row) * words, words);
                var carry = 1UL;
                for (var w = 0; w < words; w++)
                {
                    var next = state[w] >> 63;
                    state[w] = ((state[w] << 1) | carry) & (mask[w] | wild[w]);
                    carry = next;
                }
                if ((state[last] & done) != 0) return i - core.Length + 1;
            }
            return -1;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
            ArrayPool<ulong>.Shared.Return(masks);
            ArrayPool<ulong>.Shared.Return(state);
        }
    }
}
