using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ingest.LineProtocol;

/// <summary>
/// Finds the next byte of a line that can matter to the grammar (space, ',', '=', '\', '"'), 32 bytes at a
/// time: one vector compare yields a bit mask, and each query is then a shift and a trailing-zero count.
/// </summary>
/// <remarks>
/// Telegraf tokens are short (a few bytes each, dozens per line), so calling IndexOfAny once per token costs
/// more in call and setup overhead than the search itself; here a line costs about one vector load per
/// 32 bytes whatever the number of tokens. Queries must move forward through the line.
/// </remarks>
internal ref struct StructuralScanner
{
    private const int Width = 32;
    private readonly ReadOnlySpan<byte> _line;
    private int _base;
    private uint _mask;

    public StructuralScanner(ReadOnlySpan<byte> line)
    {
        _line = line;
        _base = int.MinValue / 2;
        _mask = 0;
    }

    /// <summary>Index of the first special byte at or after <paramref name="from"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next(int from)
    {
        uint offset = (uint)(from - _base);
        if (offset < Width)
        {
            uint pending = _mask & (uint.MaxValue << (int)offset);
            if (pending != 0) return _base + BitOperations.TrailingZeroCount(pending);
            from = _base + Width;
        }
        return NextWindow(from);
    }

    private int NextWindow(int from)
    {
        while (from < _line.Length)
        {
            Load(from);
            if (_mask != 0) return _base + BitOperations.TrailingZeroCount(_mask);
            from += Width;
        }
        return -1;
    }

    private void Load(int from)
    {
        ref byte start = ref MemoryMarshal.GetReference(_line);
        int remaining = _line.Length - from;
        _base = from;
        if (remaining >= Width)
        {
            _mask = Classify(ref Unsafe.Add(ref start, from));
        }
        else if (_line.Length >= Width)
        {
            // Re-read the last full window of the line and drop the bytes before 'from'.
            int last = _line.Length - Width;
            _mask = Classify(ref Unsafe.Add(ref start, last)) >> (from - last);
        }
        else
        {
            _mask = ClassifyShortLine(_line.Slice(from));
        }
    }

    /// <summary>Lines shorter than one window are copied into a padded buffer (kept out of <see cref="Load"/>'s frame).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint ClassifyShortLine(ReadOnlySpan<byte> tail)
    {
        Span<byte> padded = stackalloc byte[Width];
        padded.Clear();
        tail.CopyTo(padded);
        return Classify(ref MemoryMarshal.GetReference(padded));
    }

    /// <summary>Bit i is set when byte i of the 32 at <paramref name="at"/> is special.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Classify(ref byte at)
    {
        if (Vector256.IsHardwareAccelerated)
            return Classify(Vector256.LoadUnsafe(ref at)).ExtractMostSignificantBits();
        // Arm64 and older x64: two 128-bit halves.
        uint low = Classify(Vector128.LoadUnsafe(ref at)).ExtractMostSignificantBits();
        uint high = Classify(Vector128.LoadUnsafe(ref at, 16)).ExtractMostSignificantBits();
        return low | high << 16;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Classify(Vector256<byte> v) =>
        Vector256.Equals(v, Vector256.Create((byte)' '))
        | Vector256.Equals(v, Vector256.Create((byte)','))
        | Vector256.Equals(v, Vector256.Create((byte)'='))
        | Vector256.Equals(v, Vector256.Create((byte)'\\'))
        | Vector256.Equals(v, Vector256.Create((byte)'"'));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Classify(Vector128<byte> v) =>
        Vector128.Equals(v, Vector128.Create((byte)' '))
        | Vector128.Equals(v, Vector128.Create((byte)','))
        | Vector128.Equals(v, Vector128.Create((byte)'='))
        | Vector128.Equals(v, Vector128.Create((byte)'\\'))
        | Vector128.Equals(v, Vector128.Create((byte)'"'));
}
