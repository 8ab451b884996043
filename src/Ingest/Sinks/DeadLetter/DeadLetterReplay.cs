using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Ingest.Sinks.DeadLetter;

/// <summary>
/// <c>Ingest replay-dead-letters</c>: sends the points of dead-letter files back through a running daemon's
/// <c>/write</c>, block by block to the database and retention policy each was going to, so that they take the
/// same way as any write (log, checks, windows) once the cause that kept them out of InfluxDB is fixed. A file
/// whose every block was accepted is renamed <c>*.replayed</c>; one that was not stays for the next run (points
/// written twice are the same points to InfluxDB).
/// </summary>
public static class DeadLetterReplay
{
    public const string Usage = """
        usage: Ingest replay-dead-letters [--url URL] [--token TOKEN] [--dir DIR] [FILE ...]
          --url URL      the daemon to write through                     [http://127.0.0.1:8186]
          --token TOKEN  a token with the write scope, when Auth:Enabled  [none]
          --dir DIR      the dead-letter directory (DeadLetter:Directory) [data/dead-letter]
          FILE ...       replay these files instead of every *.lp file of DIR
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var url = "http://127.0.0.1:8186";
        string? token = null;
        var dir = "data/dead-letter";
        var files = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--url": url = Value().TrimEnd('/'); break;
                    case "--token": token = Value(); break;
                    case "--dir": dir = Value(); break;
                    case "-h" or "--help": output.WriteLine(Usage); return 0;
                    case var a when a.StartsWith("--", StringComparison.Ordinal): throw new ArgumentException($"unknown option {a}");
                    default: files.Add(args[i]); break;
                }
            }
            catch (ArgumentException e)
            {
                error.WriteLine($"ingest: {e.Message}\n{Usage}");
                return 2;
            }
        }
        if (files.Count == 0)
        {
            if (!Directory.Exists(dir))
            {
                error.WriteLine($"ingest: no dead-letter directory at {Path.GetFullPath(dir)} (give --dir)");
                return 2;
            }
            files.AddRange(Directory.EnumerateFiles(dir, "*" + DeadLetterFile.Extension).Order(StringComparer.Ordinal));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        long points = 0, blocks = 0;
        var done = 0;
        foreach (var file in files)
        {
            List<DeadLetterBlock> read;
            try
            {
                read = DeadLetterFile.Read(file);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                error.WriteLine($"ingest: {e.Message}");
                return 1;
            }
            foreach (var block in read)
            {
                if (await SendAsync(http, url, token, block, error).ConfigureAwait(false) is { } failure)
                {
                    error.WriteLine($"ingest: {file}: a block of {block.Header.Points} points for database '{block.Header.Database}' was not taken: {failure}");
                    error.WriteLine($"ingest: stopped; {done} files replayed ({blocks} blocks, {points} points); {file} and the files after it are left as they are");
                    return 1;
                }
                blocks++;
                points += block.Header.Points;
            }
            File.Move(file, file + DeadLetterFile.ReplayedExtension);
            done++;
            output.WriteLine($"replayed {file}: {read.Count} blocks, {read.Sum(b => b.Header.Points)} points");
        }
        output.WriteLine($"{done} files replayed: {blocks} blocks, {points} points");
        return 0;
    }

    private static async Task<string?> SendAsync(HttpClient http, string url, string? token, DeadLetterBlock block, TextWriter error)
    {
        var uri = $"{url}/write?db={Uri.EscapeDataString(block.Header.Database)}&precision=ns"
            + (block.Header.RetentionPolicy.Length > 0 ? "&rp=" + Uri.EscapeDataString(block.Header.RetentionPolicy) : "");
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(block.Lines) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return e.Message;
            }
            using (response)
            {
                if (response.IsSuccessStatusCode) return null;
                var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                // The daemon is full for now: wait as it asks, a few times.
                if (response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests && attempt < 10)
                {
                    var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                    error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ingest: HTTP {(int)response.StatusCode}, retrying in {wait.TotalSeconds:0.#} s"));
                    await Task.Delay(wait).ConfigureAwait(false);
                    continue;
                }
                return $"HTTP {(int)response.StatusCode}: {body.Trim()}";
            }
        }
    }
}
