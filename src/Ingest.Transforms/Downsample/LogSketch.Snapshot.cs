using Ingest.Transforms.Snapshots;

namespace Ingest.Transforms.Downsample;

// A sketch in a snapshot: its counters and both stores' bucket ranges with every count between, so that a
// restored sketch answers and collapses exactly as the original would.
internal sealed partial class LogSketch
{
    public void Write(StateWriter writer)
    {
        writer.WriteVarint((ulong)Count);
        writer.WriteVarint((ulong)_zeros);
        _positive.Write(writer);
        _negative.Write(writer);
    }

    /// <summary>Replaces this (cleared) sketch's content with one written by <see cref="Write"/>.</summary>
    public void Read(StateReader reader)
    {
        Count = (long)reader.ReadVarint();
        _zeros = (long)reader.ReadVarint();
        _positive.Read(reader);
        _negative.Read(reader);
    }

    private partial struct Store
    {
        public readonly void Write(StateWriter writer)
        {
            int length = Hi - Lo + 1;
            writer.WriteVarint((ulong)Math.Max(0, length));
            if (length <= 0) return;
            writer.WriteSigned(Lo);
            for (int i = Lo; i <= Hi; i++) writer.WriteVarint((ulong)_counts![i - _offset]);
        }

        public void Read(StateReader reader)
        {
            Clear();
            int length = reader.ReadCount(MaxBucketsPerSign + 2, "sketch bucket range");
            if (length == 0) return;
            long lo = reader.ReadSigned();
            if (lo < int.MinValue / 2 || lo > int.MaxValue / 2) throw new FormatException($"snapshot: sketch bucket index {lo} is out of range");
            if (_counts is null || _counts.Length < length)
            {
                if (_counts is not null) System.Buffers.ArrayPool<int>.Shared.Return(_counts);
                _counts = System.Buffers.ArrayPool<int>.Shared.Rent(Math.Max(InitialLength, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)length)));
            }
            Array.Clear(_counts);
            _offset = (int)lo - (_counts.Length - length) / 2;
            Lo = (int)lo;
            Hi = (int)lo + length - 1;
            for (int i = Lo; i <= Hi; i++)
            {
                ulong count = reader.ReadVarint();
                if (count > int.MaxValue) throw new FormatException($"snapshot: sketch bucket count {count} is out of range");
                _counts[i - _offset] = (int)count;
            }
        }
    }
}
