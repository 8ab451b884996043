using System.Runtime.InteropServices;

namespace Ingest.Wal;

/// <summary>
/// fsync of a directory, so that a created, renamed or deleted name survives a machine crash. .NET cannot open a
/// directory as a file, so this goes through libc; it is best effort (nothing on Windows, where NTFS journals
/// names, or where libc is missing). Public for the files kept beside the log (the windows' snapshot).
/// </summary>
public static partial class DirectorySync
{
    private static bool _unavailable = !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD());

    /// <summary>fsyncs <paramref name="directory"/> where that is possible; never throws.</summary>
    public static void TrySync(string directory)
    {
        if (_unavailable)
            return;
        try
        {
            int flags = OperatingSystem.IsLinux() ? 0x80000 /* O_RDONLY | O_CLOEXEC */
                : OperatingSystem.IsMacOS() ? 0x1000000 : 0;
            int fd = Open(directory, flags);
            if (fd < 0)
                return;
            try
            {
                FSync(fd);
            }
            finally
            {
                Close(fd);
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
