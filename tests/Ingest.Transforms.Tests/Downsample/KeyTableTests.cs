using System.Text;
using Ingest.LineProtocol;
using Ingest.Transforms.Downsample;

namespace Ingest.Transforms.Tests.Downsample;

public class KeyTableTests
{
    private static int Add(KeyTable table, string key, int scope = 0)
    {
        var bytes = Encoding.UTF8.GetBytes(key);
        return table.FindOrAdd(bytes, SeriesKeyHash.Compute(bytes), scope, out _);
    }

    [Fact]
    public void Keys_survive_removal_reuse_and_compaction_of_others()
    {
        var table = new KeyTable();
        var ids = new Dictionary<string, int>();
        var random = new Random(3);
        for (int round = 0; round < 20; round++)
        {
            for (int i = 0; i < 5_000; i++)
            {
                string key = $"cpu,host=h{round}-{i},dc=somewhere-far-away";
                ids[key] = Add(table, key);
            }
            // Drop most of the keys, leaving some from every round.
            foreach (var key in ids.Keys.Where(_ => random.Next(10) < 8).ToList())
            {
                table.Remove(ids[key]);
                ids.Remove(key);
            }
            Assert.Equal(ids.Count, table.Count);
        }
        foreach (var (key, id) in ids)
        {
            Assert.Equal(key, Encoding.UTF8.GetString(table.KeyOf(id)));
            Assert.Equal(id, Add(table, key));
        }
        Assert.Equal(ids.Count, table.Count);
    }

    [Fact]
    public void Equal_keys_in_different_scopes_get_different_ids()
    {
        var table = new KeyTable();
        Assert.NotEqual(Add(table, "cpu", 0), Add(table, "cpu", 1));
        Assert.Equal(Add(table, "cpu", 1), Add(table, "cpu", 1));
    }
}
