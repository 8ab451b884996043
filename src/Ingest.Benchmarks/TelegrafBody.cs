using System.Globalization;
using System.Text;

namespace Ingest.Benchmarks;

/// <summary>
/// A deterministic request body shaped like Telegraf output: cpu, mem, disk, net and system lines with
/// 2–4 sorted tags, 3–6 fields of mixed types and nanosecond timestamps.
/// </summary>
public static class TelegrafBody
{
    public static byte[] Create(int lines, int seed = 42)
    {
        var random = new Random(seed);
        var text = new StringBuilder(lines * 140);
        long timestamp = 1_700_000_000_000_000_000;
        for (int i = 0; i < lines; i++)
        {
            string host = "server-" + (i % 200).ToString("D3", CultureInfo.InvariantCulture);
            string region = (i % 3) switch { 0 => "eu-west", 1 => "us-east", _ => "ap-south" };
            switch (i % 5)
            {
                case 0:
                    text.Append("cpu,cpu=cpu").Append(i % 8).Append(",host=").Append(host).Append(",region=").Append(region)
                        .Append(" usage_idle=").Append(F(random, 100)).Append(",usage_user=").Append(F(random, 50))
                        .Append(",usage_system=").Append(F(random, 20)).Append(",usage_iowait=").Append(F(random, 5));
                    break;
                case 1:
                    text.Append("mem,host=").Append(host).Append(",region=").Append(region)
                        .Append(" used=").Append(random.NextInt64(1L << 30, 1L << 36)).Append("i,free=")
                        .Append(random.NextInt64(1L << 28, 1L << 34)).Append("i,used_percent=").Append(F(random, 100));
                    break;
                case 2:
                    text.Append("disk,device=sda").Append(i % 4).Append(",fstype=ext4,host=").Append(host).Append(",path=/var/lib/data")
                        .Append(" free=").Append(random.NextInt64(1L << 30, 1L << 40)).Append("i,used=")
                        .Append(random.NextInt64(1L << 30, 1L << 40)).Append("i,used_percent=").Append(F(random, 100))
                        .Append(",inodes_free=").Append(random.Next(1000, 9_000_000)).Append("i,inodes_used=")
                        .Append(random.Next(1000, 900_000)).Append("i,readonly=false");
                    break;
                case 3:
                    text.Append("net,host=").Append(host).Append(",interface=eth").Append(i % 2)
                        .Append(" bytes_recv=").Append(random.NextInt64(0, long.MaxValue / 4)).Append("u,bytes_sent=")
                        .Append(random.NextInt64(0, long.MaxValue / 4)).Append("u,packets_recv=").Append(random.Next()).Append("i,err_in=0i,drop_in=")
                        .Append(random.Next(0, 100)).Append('i');
                    break;
                default:
                    text.Append("system,host=").Append(host).Append(",region=").Append(region)
                        .Append(" load1=").Append(F(random, 8)).Append(",load5=").Append(F(random, 8))
                        .Append(",load15=").Append(F(random, 8)).Append(",n_cpus=8i,uptime=").Append(random.Next(0, 10_000_000)).Append('i');
                    break;
            }
            text.Append(' ').Append(timestamp + i * 1_000_000L).Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>
    /// The single shape of line the throughput target is stated for:
    /// <c>cpu,host=server-042,region=eu-west usage_idle=97.31,usage_user=1.93,load=3i 1700000000000000000</c>.
    /// </summary>
    public static byte[] CreateTypical(int lines, int seed = 42, bool reverseTags = false)
    {
        var random = new Random(seed);
        var text = new StringBuilder(lines * 104);
        for (int i = 0; i < lines; i++)
        {
            string host = "server-" + (i % 200).ToString("D3", CultureInfo.InvariantCulture);
            string region = (i % 2) == 0 ? "eu-west" : "us-east";
            text.Append("cpu,");
            if (reverseTags) text.Append("region=").Append(region).Append(",host=").Append(host);
            else text.Append("host=").Append(host).Append(",region=").Append(region);
            text.Append(" usage_idle=").Append(Math.Round(random.NextDouble() * 100, 2).ToString("F2", CultureInfo.InvariantCulture))
                .Append(",usage_user=").Append(Math.Round(random.NextDouble() * 10, 2).ToString("F2", CultureInfo.InvariantCulture))
                .Append(",load=").Append(random.Next(0, 10)).Append("i ")
                .Append(1_700_000_000_000_000_000L + i * 10_000_000L).Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string F(Random random, double max) =>
        Math.Round(random.NextDouble() * max, 2 + random.Next(3)).ToString("R", CultureInfo.InvariantCulture);
}
