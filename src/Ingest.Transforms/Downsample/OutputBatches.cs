using Ingest.LineProtocol;

namespace Ingest.Transforms.Downsample;

/// <summary>
/// The batches one call writes into, one per (tier, database) since each has its own target, rented on first
/// use and handed to the caller's callback at the end of the call.
/// </summary>
internal sealed class OutputBatches
{
    private readonly List<(int Tier, int Database, PointBatch Batch)> _open = [];

    public PointBatch For(int tier, int database, string databaseName, string retentionPolicy)
    {
        foreach (var (t, d, b) in _open)
        {
            if (t == tier && d == database) return b;
        }
        var batch = PointBatch.Rent();
        batch.Database = databaseName;
        batch.RetentionPolicy = retentionPolicy;
        _open.Add((tier, database, batch));
        return batch;
    }

    /// <summary>Hands every batch to <paramref name="emit"/>, which owns it from then on.</summary>
    public void HandOver(Action<PointBatch> emit)
    {
        try
        {
            foreach (var (_, _, batch) in _open) emit(batch);
        }
        finally
        {
            _open.Clear();
        }
    }
}
