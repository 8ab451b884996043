using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using Ingest.LineProtocol.Tests.Support;

namespace Ingest.LineProtocol.Tests;

/// <summary>
/// Random points whose names and values are full of the characters line protocol has to escape are written,
/// parsed and decoded, and must come back equal.
/// </summary>
public class PropertyTests
{
    private static readonly Config Config = Config.QuickThrowOnFailure.WithMaxTest(500);

    // Every character class that matters to the grammar, plus multi-byte UTF-8.
    // Whole runes, so that surrogate pairs are never split into invalid UTF-16.
    private static readonly string[] NameAtoms =
        "abcXYZ019_-.:/ ,=\"'\\#\té€温🚀".EnumerateRunes().Select(r => r.ToString()).ToArray();

    [Fact]
    public void Written_point_parses_back_to_the_same_point()
    {
        Prop.ForAll(Arbitraries.Point, sample =>
        {
            var (point, precision) = sample;
            long unit = precision.NanosecondsPerUnit();
            var buffer = new ArrayBufferWriter<byte>();
            LineProtocolWriter.WritePoint(buffer, point with { Timestamp = point.Timestamp / unit });

            var batch = new PointBatch();
            var summary = new LineProtocolParser().Parse(buffer.WrittenSpan, precision, 0, batch);
            Assert.True(summary.BadLines == 0, $"{summary.FirstError} for {Lp.Text(buffer.WrittenSpan)}");
            Assert.Equal(1, batch.Count);
            var expected = point with
            {
                Timestamp = point.Timestamp / unit * unit,
                Tags = point.Tags.OrderBy(t => EscapedKey(t.Key), ByteOrder.Instance).ToList(),
            };
            Assert.Equal(expected, PointDecoder.Decode(batch, 0));

            var again = new PointBatch();
            new LineProtocolParser().Parse(batch.Data, Precision.Nanoseconds, 0, again);
            Assert.Equal(Lp.Text(batch.Data), Lp.Text(again.Data));
            Assert.Equal(batch.Points[0].SeriesHash, again.Points[0].SeriesHash);
        }).Check(Config);
    }

    [Fact]
    public void Many_written_points_in_one_body_parse_back_in_order()
    {
        Prop.ForAll(Arbitraries.Points, points =>
        {
            var buffer = new ArrayBufferWriter<byte>();
            foreach (var point in points) LineProtocolWriter.WritePoint(buffer, point);
            var batch = new PointBatch();
            var summary = new LineProtocolParser().Parse(buffer.WrittenSpan, Precision.Nanoseconds, 0, batch);
            Assert.Equal(0, summary.BadLines);
            var decoded = PointDecoder.DecodeAll(batch);
            Assert.Equal(points.Length, decoded.Count);
            for (int i = 0; i < points.Length; i++)
                Assert.Equal(points[i].Fields, decoded[i].Fields);
        }).Check(Config.WithMaxTest(100));
    }

    private static byte[] EscapedKey(string key) => System.Text.Encoding.UTF8.GetBytes(Lp.Write(w => LineProtocolWriter.WriteTagKey(w, key)));

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    private static class Arbitraries
    {
        private static readonly Gen<string> RawName =
            Gen.Elements(NameAtoms).ArrayOf().Select(string.Concat);

        // Names line protocol cannot express at all are steered away from (see LineProtocolWriter remarks), and
        // so is a backslash before a space: InfluxDB's line splitter (which we mirror) pairs "\\" there and may
        // then split a later multi-line string value.
        private static readonly Gen<string> TagText = RawName.Select(s => DropBackslashBefore(MakeNonEmpty(s), " ") + "k");

        private static readonly Gen<string> Measurement = TagText.Select(s => s[0] is '#' or '\t' ? "m" + s : s);

        private static readonly Gen<string> FieldKey = TagText.Select(s =>
        {
            // A backslash right before ',', '=' or ' ' would swallow the escape in a field key.
            var text = DropBackslashBefore(s, ",= ");
            if (text[0] == '\t') text = "f" + text;
            return text == "time" ? "time_" : text;
        });

        private static readonly Gen<string> TagKey = TagText.Where(k => k is not ("time" or "_field" or "_measurement"));

        private static readonly Gen<string> StringValue =
            Gen.Elements(NameAtoms.Append("\n").ToArray()).ArrayOf().Select(string.Concat);

        private static readonly Gen<double> FiniteDouble = Gen.OneOf(
            ArbMap.Default.GeneratorFor<long>().Select(BitConverter.Int64BitsToDouble).Where(double.IsFinite),
            ArbMap.Default.GeneratorFor<double>().Where(double.IsFinite),
            Gen.Elements(0.0, -0.0, double.MaxValue, double.MinValue, double.Epsilon, 1e-300, 123.456));

        private static readonly Gen<FieldValue> Value = Gen.OneOf(
            FiniteDouble.Select(FieldValue.FromFloat),
            ArbMap.Default.GeneratorFor<long>().Select(FieldValue.FromInteger),
            Gen.Elements(long.MinValue, long.MaxValue, 0L).Select(FieldValue.FromInteger),
            ArbMap.Default.GeneratorFor<ulong>().Select(FieldValue.FromUnsigned),
            Gen.Elements(ulong.MaxValue, 0UL).Select(FieldValue.FromUnsigned),
            StringValue.Select(FieldValue.FromString),
            ArbMap.Default.GeneratorFor<bool>().Select(FieldValue.FromBoolean));

        private static readonly Gen<long> Timestamp = Gen.OneOf(
            ArbMap.Default.GeneratorFor<long>().Select(t => Math.Clamp(t, long.MinValue + 2, long.MaxValue - 1)),
            Gen.Choose(-1000, 1000).Select(t => (long)t),
            Gen.Elements(long.MinValue + 2, long.MaxValue - 1, 1_700_000_000_000_000_000L));

        private static readonly Gen<DecodedPoint> PointGen =
            from measurement in Measurement
            from tagKeys in TagKey.ListOf().Select(keys => keys.Distinct().Take(8).ToList())
            from tagValues in TagText.ArrayOf(tagKeys.Count)
            from fieldKeys in FieldKey.NonEmptyListOf().Select(keys => keys.Take(6).ToList())
            from values in Value.ArrayOf(fieldKeys.Count)
            from timestamp in Timestamp
            select new DecodedPoint(measurement,
                tagKeys.Select((k, i) => new DecodedTag(k, tagValues[i])).ToList(),
                fieldKeys.Select((k, i) => new DecodedField(k, values[i])).ToList(),
                timestamp);

        public static readonly Arbitrary<(DecodedPoint, Precision)> Point =
            (from point in PointGen
             from precision in Gen.Elements(Enum.GetValues<Precision>())
             select (point, precision)).ToArbitrary();

        public static readonly Arbitrary<DecodedPoint[]> Points = PointGen.ArrayOf().ToArbitrary();

        private static string MakeNonEmpty(string s) => s.Length == 0 ? "x" : s;

        private static string DropBackslashBefore(string s, string specials)
        {
            var text = new System.Text.StringBuilder(s.Length);
            foreach (char c in s)
            {
                if (specials.Contains(c)) while (text.Length > 0 && text[^1] == '\\') text.Length--;
                text.Append(c);
            }
            return text.ToString();
        }
    }
}
