using System.Diagnostics.CodeAnalysis;

namespace Ingest.LineProtocol;

/// <summary>Builds and throws exceptions so that hot methods stay small and inlineable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowNotRepresentable(string element, string reason)
        => throw new ArgumentException($"The {element} cannot be written as line protocol: {reason}.");

    [DoesNotReturn]
    public static void ThrowNonFiniteFloat(double value)
        => throw new ArgumentOutOfRangeException(nameof(value), value, "Line protocol has no NaN or infinite floats.");

    [DoesNotReturn]
    public static void ThrowMalformed(string what)
        => throw new FormatException($"Malformed line protocol: {what}.");

    [DoesNotReturn]
    public static T ThrowMalformed<T>(string what) where T : allows ref struct
        => throw new FormatException($"Malformed line protocol: {what}.");

    [DoesNotReturn]
    public static void ThrowWrongType(FieldType actual, FieldType wanted)
        => throw new InvalidOperationException($"The field is {actual}, not {wanted}.");
}
